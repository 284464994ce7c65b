/**
 * The TLS layer: a {@linkcode Conn} in, a TLS {@linkcode Conn} out, with the
 * handshake's facts (protocol, cipher, ALPN, the peer's certificate and chain,
 * whether and why verification failed) in `conn.facts.tls`. After Go's
 * `tls.Client` plus `ConnectionState`.
 *
 * `node:tls` does the handshake because Deno's own TLS API cannot show the
 * peer's certificate nor skip verification per connection. It runs with
 * `rejectUnauthorized: false` and tcpc judges the result itself (chain, dates,
 * name; RFC 5280 section 6, RFC 6125), so `insecure` still reports what
 * verification would have said.
 *
 * @module
 */

import type { X509Certificate } from "node:crypto";
import type { Duplex } from "node:stream";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import { escapeBytes, escapeText } from "../report/safe_text.ts";
import { abortable } from "./abortable.ts";
import type { CertificateFacts, ChainEntry, Conn, ConnFacts, TlsFacts } from "./conn.ts";
import { TlsError } from "./tls_error.ts";

export { TlsError } from "./tls_error.ts";
import { NodeConn } from "./node_conn.ts";

/** What the TLS code needs from node:tls, node:crypto and the Duplex adapter. */
interface NodeTls {
  tls: typeof import("node:tls");
  X509: typeof import("node:crypto").X509Certificate;
  connDuplex: typeof import("./conn_duplex.ts").connDuplex;
}

/** Set by {@linkcode loadNodeTls}; every function below that uses it runs after it. */
let node: NodeTls;
let loadingNode: Promise<NodeTls> | undefined;

/**
 * Loads node:tls and its companions on first use: they cost every start-up
 * ~10-15 ms, and most runs (`tcpc HOST PORT`, `-z`, a plain probe) never use
 * TLS. String-literal specifiers, so that `deno compile` includes them.
 */
function loadNodeTls(): Promise<NodeTls> {
  return loadingNode ??= Promise.all([
    import("node:tls"),
    import("node:crypto"),
    import("./conn_duplex.ts"),
  ]).then(([tls, crypto, duplex]) =>
    node = { tls, X509: crypto.X509Certificate, connDuplex: duplex.connDuplex }
  );
}

/** Debian's (and Ubuntu's) bundle of the system's trusted CAs, as curl and openssl use it. */
export const SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

/** Options of {@linkcode tlsLayer}. */
export interface TlsLayerOptions {
  /** The target as `host:port`, for messages; its host is the name verified when `servername` is unset. */
  address: string;
  /** SNI and the name the certificate must hold. @default {undefined} (no SNI; the address's host is verified) */
  servername?: string;
  /** ALPN protocols to offer, in order of preference (RFC 7301). @default {undefined} (none) */
  alpn?: string[];
  /** PEM texts of CAs to trust in addition to the defaults. @default {[]} */
  ca?: string[];
  /** Client certificate (PEM), for mTLS; needs `key`. @default {undefined} */
  cert?: string;
  /** The client certificate's private key (PEM). Never shown anywhere. @default {undefined} */
  key?: string;
  /** Go on when verification fails (facts still say why). @default {false} */
  insecure?: boolean;
  /** Aborts the handshake: the conn is closed and the promise rejects with `signal.reason`. @default {undefined} */
  signal?: AbortSignal;
}

let defaultTrust: Promise<string[]> | undefined;

/**
 * The roots the runtime ships (Mozilla's, via webpki), when `--allow-sys` is
 * granted: Deno 2.9 guards `tls.rootCertificates` with the whole sys
 * permission, which the default permission set does not grant (least
 * privilege); the system bundle covers the same public roots on Debian.
 */
function runtimeRoots(): readonly string[] {
  if (Deno.permissions.querySync({ name: "sys" }).state !== "granted") return [];
  return node.tls.rootCertificates;
}

/**
 * The CAs tcpc trusts by default: every certificate in
 * {@linkcode SYSTEM_CA_FILE} when it is readable, plus the roots the runtime
 * ships (`node:tls` `rootCertificates`, Mozilla's list), without duplicates.
 * Read once per process.
 *
 * @example
 * ```ts
 * import { defaultTrustedCas } from "./tls.ts";
 * console.log((await defaultTrustedCas()).length > 100); // true
 * ```
 */
export function defaultTrustedCas(): Promise<string[]> {
  defaultTrust ??= (async () => {
    await loadNodeTls();
    let system: string[] = [];
    try {
      system = splitPem(await Deno.readTextFile(SYSTEM_CA_FILE));
    } catch { /* no bundle, or no read permission: the runtime's roots only */ }
    const seen = new Set<string>();
    const all: string[] = [];
    for (const pem of [...system, ...runtimeRoots()]) {
      const key = pem.replace(/\s+/g, "");
      if (seen.has(key)) continue;
      seen.add(key);
      all.push(pem);
    }
    return all;
  })();
  return defaultTrust;
}

/** The PEM certificates in a bundle's text. */
function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Runs a TLS handshake over `conn` and returns the TLS {@linkcode Conn}. It
 * shares `conn.facts`, with `facts.tls` filled in.
 *
 * Trusted CAs: the system bundle ({@linkcode SYSTEM_CA_FILE}, when readable),
 * the runtime's own roots (`node:tls` `rootCertificates`) and `options.ca`.
 * Nothing else (no environment variables, no other files).
 *
 * Verification, in OpenSSL's order: the chain must reach a trusted CA, every
 * certificate in it must be valid now, and the leaf must hold `servername`
 * (else the address's host: an IP must be an IP SAN). When it fails the conn
 * is closed and a {@linkcode TlsError} thrown, unless `insecure`: then the
 * conn is returned and `facts.tls.verified` is false with `verifyError` set.
 *
 * Handshake failures (a TLS alert, a peer that does not speak TLS, a closed
 * connection) throw a {@linkcode TlsError} too. On a failure the input conn is
 * closed.
 *
 * @example Upgrade a TCP connection
 * ```ts
 * import { tlsLayer } from "./tls.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const tcp = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 443 }));
 * const conn = await tlsLayer(tcp, {
 *   address: "localhost:443",
 *   servername: "localhost",
 *   alpn: ["http/1.1"],
 *   signal: AbortSignal.timeout(5000),
 * });
 * console.log(conn.facts.tls?.protocol, conn.facts.tls?.certificate?.daysLeft);
 * conn.close();
 * ```
 */
export async function tlsLayer(conn: Conn, options: TlsLayerOptions): Promise<Conn> {
  const signal = options.signal;
  if (signal?.aborted) {
    conn.close();
    throw signal.reason;
  }
  try {
    await (signal === undefined ? loadNodeTls() : abortable(loadNodeTls(), signal));
  } catch (err) {
    conn.close();
    throw err;
  }
  const defaults = await defaultTrustedCas();
  const trusted = [...defaults, ...(options.ca ?? [])];
  const duplex = node.connDuplex(conn, { reuseBuffer: true });
  // The first bytes the peer sent, to quote them when it does not speak TLS.
  const first: Uint8Array[] = [];
  let firstLength = 0;
  const tap = (chunk: Uint8Array) => {
    if (firstLength >= FIRST_BYTES) return;
    // A copy: the duplex reuses its read buffer once the chunk is consumed.
    first.push(chunk.slice(0, FIRST_BYTES - firstLength));
    firstLength += first.at(-1)!.length;
  };
  const socket = node.tls.connect({
    socket: duplex,
    ...(options.servername === undefined ? {} : { servername: options.servername }),
    ...(options.alpn === undefined ? {} : { ALPNProtocols: options.alpn }),
    ca: trusted,
    ...(options.cert === undefined ? {} : { cert: options.cert }),
    ...(options.key === undefined ? {} : { key: options.key }),
    // tcpc decides below, so that --insecure can still say what failed.
    rejectUnauthorized: false,
  });
  duplex.on("data", tap);
  const fail = () => {
    socket.destroy();
    duplex.destroy();
    conn.close();
  };
  const context: HandshakeContext = {
    address: options.address,
    clientCert: options.cert !== undefined,
    alpn: options.alpn ?? [],
  };
  try {
    await handshake(socket, signal);
  } catch (err) {
    fail();
    if (signal?.aborted && err === signal.reason) throw err;
    throw handshakeError(err, { ...context, firstBytes: concat(first) });
  } finally {
    duplex.off("data", tap);
  }
  let facts: TlsFacts;
  let verdict: Verdict | null;
  try {
    const certs = sentChain(socket, anchorLookup(defaults, options.ca ?? [])) ??
      peerChain(socket.getPeerCertificate(true));
    facts = {
      protocol: socket.getProtocol() ?? null,
      cipher: socket.getCipher()?.name ?? null,
      alpn: typeof socket.alpnProtocol === "string" ? socket.alpnProtocol : null,
      verified: false,
      verifyError: null,
      certificate: certs[0] === undefined ? null : certificateFacts(certs[0], Date.now()),
      chain: certs.map(chainEntry),
    };
    verdict = judge({
      certs,
      authorizationError: socket.authorizationError,
      defaults,
      extra: options.ca ?? [],
      name: options.servername ?? hostOf(options.address),
      now: Date.now(),
    });
  } catch (err) {
    fail();
    throw new TlsError(`could not read the peer's certificate: ${messageOf(err)}`, {
      address: options.address,
      facts: null,
      cause: err,
    });
  }
  facts.verified = verdict === null;
  facts.verifyError = verdict?.code ?? null;
  conn.facts.tls = facts;
  if (verdict !== null && !options.insecure) {
    fail();
    throw new TlsError(verdict.detail, { address: options.address, facts });
  }
  return new TlsConn(socket, { facts: conn.facts, inner: conn, duplex, context });
}

/** Bytes of the peer's first answer kept for the "does not speak TLS" message. */
const FIRST_BYTES = 64;

/** What error messages need to know about the attempt. */
interface HandshakeContext {
  address: string;
  clientCert: boolean;
  alpn: string[];
}

/** Waits for `secureConnect`, an error, a close, or the signal. */
function handshake(socket: TLSSocket, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      socket.off("secureConnect", onSecure);
      socket.off("error", onError);
      socket.off("close", onClose);
      signal?.removeEventListener("abort", onAbort);
    };
    const onSecure = () => {
      done();
      resolve();
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => {
      done();
      reject(new ClosedDuringHandshake());
    };
    const onAbort = () => {
      done();
      reject(signal?.reason);
    };
    socket.once("secureConnect", onSecure);
    socket.once("error", onError);
    socket.once("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The peer closed the connection before the handshake finished. */
class ClosedDuringHandshake extends Error {
  constructor() {
    super("the peer closed the connection during the handshake");
    this.name = "ClosedDuringHandshake";
  }
}

/** TLS alert names (RFC 8446 section 6, RFC 7301) by the CamelCase name the runtime reports. */
const ALERTS: Record<string, [string, number]> = {
  CloseNotify: ["close_notify", 0],
  UnexpectedMessage: ["unexpected_message", 10],
  BadRecordMac: ["bad_record_mac", 20],
  HandshakeFailure: ["handshake_failure", 40],
  BadCertificate: ["bad_certificate", 42],
  UnsupportedCertificate: ["unsupported_certificate", 43],
  CertificateRevoked: ["certificate_revoked", 44],
  CertificateExpired: ["certificate_expired", 45],
  CertificateUnknown: ["certificate_unknown", 46],
  IllegalParameter: ["illegal_parameter", 47],
  UnknownCA: ["unknown_ca", 48],
  AccessDenied: ["access_denied", 49],
  DecodeError: ["decode_error", 50],
  DecryptError: ["decrypt_error", 51],
  ProtocolVersion: ["protocol_version", 70],
  InsufficientSecurity: ["insufficient_security", 71],
  InternalError: ["internal_error", 80],
  UserCanceled: ["user_canceled", 90],
  MissingExtension: ["missing_extension", 109],
  UnsupportedExtension: ["unsupported_extension", 110],
  UnrecognisedName: ["unrecognized_name", 112],
  UnrecognizedName: ["unrecognized_name", 112],
  CertificateRequired: ["certificate_required", 116],
  NoApplicationProtocol: ["no_application_protocol", 120],
};

/** The alert the peer sent, from the runtime's message (`received fatal alert: X`). */
function alertOf(err: unknown): { name: string; number: number | null } | null {
  const message = messageOf(err);
  // rustls shows an alert it has no name for by its number: `AlertDescription(0xc8)`.
  const numbered = /alert:?\s*AlertDescription\((0x[0-9a-f]+)\)/i.exec(message);
  if (numbered !== null) return { name: "unknown", number: Number(numbered[1]) };
  const match = /alert:?\s*([A-Za-z_]+)/i.exec(message);
  if (match === null) return null;
  const known = ALERTS[match[1]!];
  return known === undefined
    ? { name: match[1]!, number: null }
    : { name: known[0], number: known[1] };
}

/** Handshake-time and alert-time failures in words a person acts on. */
function alertDetail(
  alert: { name: string; number: number | null },
  context: HandshakeContext,
): string {
  const tag = `alert ${alert.name}${alert.number === null ? "" : ` (${alert.number})`}`;
  switch (alert.name) {
    case "certificate_required":
      return context.clientCert
        ? `the server requires a client certificate and refused ours (${tag})`
        : `the server requires a client certificate, and none was given (${tag})`;
    case "handshake_failure":
      return context.clientCert
        ? `the server rejected the handshake (${tag}): no protocol or cipher in common, or it refused our client certificate`
        : `the server rejected the handshake (${tag}): it may require a client certificate (none given), or no protocol or cipher in common`;
    case "bad_certificate":
    case "unknown_ca":
    case "certificate_unknown":
    case "unsupported_certificate":
    case "certificate_expired":
    case "certificate_revoked":
    case "access_denied":
      return context.clientCert
        ? `the server refused our client certificate (${tag})`
        : `the server refused the connection (${tag}): a client certificate may be required`;
    case "protocol_version":
      return `protocol version mismatch: the server accepts none of the TLS versions offered (${tag})`;
    case "no_application_protocol":
      return `no ALPN protocol in common: offered ${
        context.alpn.map((p) => `"${escapeText(p)}"`).join(", ")
      } (${tag})`;
    case "unrecognized_name":
      return `the server does not know the name sent in SNI (${tag})`;
    default:
      return `handshake alert from the server: ${tag}`;
  }
}

/** Any handshake failure as a {@linkcode TlsError}. */
function handshakeError(
  err: unknown,
  context: HandshakeContext & { firstBytes: Uint8Array },
): Error {
  const base = { address: context.address, facts: null, cause: err };
  const first = context.firstBytes;
  // Every TLS record starts with a content type 20-24 (RFC 8446 section 5.1);
  // anything else is another protocol answering (or greeting) first.
  if (first.length > 0 && (first[0]! < 20 || first[0]! > 24)) {
    return new TlsError(
      `the peer does not speak TLS: it answered "${escapeBytes(first, { maxBytes: 48 })}"`,
      base,
    );
  }
  const alert = alertOf(err);
  if (alert !== null) return new TlsError(alertDetail(alert, context), base);
  const code = (err as { code?: unknown })?.code;
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number/i.test(messageOf(err))) {
    return new TlsError("the peer does not speak TLS (wrong version number)", base);
  }
  if (err instanceof ClosedDuringHandshake || code === "ECONNRESET" || code === "EPIPE") {
    const said = first.length === 0 ? "without a word" : "after a partial TLS answer";
    return new TlsError(
      `the peer closed the connection during the handshake ${said}: it may not speak TLS on this port, or it refused our hello`,
      base,
    );
  }
  return new TlsError(`handshake failed: ${escapeText(messageOf(err))}`, base);
}

/** The leaf first, then each issuer the runtime reports, stopping at a self-issued one. */
/**
 * The chain the server sent, completed from our CAs the way
 * `getPeerCertificate(true)` completes it (the first CA whose subject is the
 * last certificate's issuer, until a self-issued one), or null when the
 * runtime does not expose the sent chain. Deno 2.9's `getPeerCertificate(true)`
 * parses every trusted CA (~150) into a legacy object on each call: ~8 ms of
 * CPU per handshake, two thirds of a `probe --tls` (bench/RESULTS.md, figure 10).
 */
function sentChain(
  socket: TLSSocket,
  anchors: (subject: string) => X509Certificate[],
): X509Certificate[] | null {
  const handle = (socket as unknown as {
    _handle?: { getPeerCertificateChain?: () => { certificates?: unknown } | null };
  })._handle;
  let ders: unknown;
  try {
    ders = handle?.getPeerCertificateChain?.()?.certificates;
  } catch {
    return null;
  }
  if (!Array.isArray(ders) || ders.length === 0) return null;
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  const add = (cert: X509Certificate) => {
    if (seen.has(cert.fingerprint256) || out.length >= 10) return false;
    seen.add(cert.fingerprint256);
    out.push(cert);
    return true;
  };
  for (const der of ders) {
    if (!add(new node.X509(der as Uint8Array))) break;
  }
  for (let last = out.at(-1)!; last.subject !== last.issuer;) {
    const issuer = anchors(last.issuer)[0];
    if (issuer === undefined || !add(issuer)) break;
    last = issuer;
  }
  return out;
}

function peerChain(peer: DetailedPeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let current: DetailedPeerCertificate | undefined = peer;
  // A chain longer than 10 is not one a server sends (and bounds the walk).
  while (current?.raw !== undefined && out.length < 10) {
    const fingerprint = current.fingerprint256;
    if (seen.has(fingerprint)) break;
    seen.add(fingerprint);
    out.push(new node.X509(current.raw));
    current = current.issuerCertificate;
  }
  return out;
}

/** `C=US\nO=x\nCN=y` -> `C=US, O=x, CN=y`. */
function dn(text: string): string {
  return text.split("\n").filter((part) => part !== "").join(", ");
}

/** ISO 8601 from OpenSSL's `Jan  1 00:00:00 2021 GMT`. */
function isoDate(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

/** DNS names and IPs from `DNS:a, IP Address:127.0.0.1`. */
function altNames(text: string | undefined): string[] {
  if (text === undefined || text === "") return [];
  return text.split(/,\s*/).map((entry) => entry.replace(/^(DNS|IP Address|IP):/, ""));
}

function certificateFacts(cert: X509Certificate, now: number): CertificateFacts {
  const notAfter = isoDate(cert.validTo);
  return {
    subject: dn(cert.subject),
    issuer: dn(cert.issuer),
    subjectAltNames: altNames(cert.subjectAltName),
    notBefore: isoDate(cert.validFrom),
    notAfter,
    daysLeft: Math.floor((Date.parse(notAfter) - now) / 86_400_000),
    sha256: cert.fingerprint256,
    serial: cert.serialNumber,
  };
}

function chainEntry(cert: X509Certificate): ChainEntry {
  return { subject: dn(cert.subject), issuer: dn(cert.issuer), notAfter: isoDate(cert.validTo) };
}

/** Why verification failed: OpenSSL's code and a sentence. */
interface Verdict {
  code: string;
  detail: string;
}

/** `2021-01-01 00:00 UTC`. */
function when(iso: string): string {
  return iso.replace(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d).*$/, "$1 $2 UTC");
}

let defaultIndex: { trusted: string[]; index: Map<string, X509Certificate[]> } | undefined;

/** CAs by subject, for the chain walk. */
function indexCas(pems: string[]): Map<string, X509Certificate[]> {
  const index = new Map<string, X509Certificate[]>();
  for (const pem of pems) {
    let cert: X509Certificate;
    try {
      cert = new node.X509(pem);
    } catch {
      continue; // a broken entry in a bundle is not our peer's fault
    }
    const list = index.get(cert.subject) ?? [];
    list.push(cert);
    index.set(cert.subject, list);
  }
  return index;
}

/** Looks trusted CAs up by subject: the defaults (parsed once, when first needed) and `extra`. */
function anchorLookup(
  defaults: string[],
  extra: string[],
): (subject: string) => X509Certificate[] {
  if (defaultIndex?.trusted !== defaults) {
    defaultIndex = { trusted: defaults, index: indexCas(defaults) };
  }
  const base = defaultIndex.index;
  const more = indexCas(extra);
  return (subject) => [...(base.get(subject) ?? []), ...(more.get(subject) ?? [])];
}

function verifiesItself(cert: X509Certificate): boolean {
  try {
    return cert.verify(cert.publicKey);
  } catch {
    return false;
  }
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/**
 * Walks from the leaf through the certificates the peer sent to a trusted CA;
 * null when it gets there, else the reason, as OpenSSL names it.
 */
function chainVerdict(
  certs: X509Certificate[],
  anchors: (subject: string) => X509Certificate[],
): Verdict | null {
  let current = certs[0]!;
  for (let depth = 0; depth < certs.length + 1; depth++) {
    const subject = `"${escapeText(dn(current.subject))}"`;
    const issuer = `"${escapeText(dn(current.issuer))}"`;
    if (anchors(current.subject).some((a) => a.fingerprint256 === current.fingerprint256)) {
      return null;
    }
    if (anchors(current.issuer).some((a) => issuedBy(current, a))) return null;
    // Self-issued and self-signed (checkIssued would also demand keyCertSign).
    if (current.subject === current.issuer && verifiesItself(current)) {
      return depth === 0
        ? {
          code: "DEPTH_ZERO_SELF_SIGNED_CERT",
          detail:
            `self-signed certificate ${subject} is not trusted (trust it as a CA to accept it)`,
        }
        : {
          code: "SELF_SIGNED_CERT_IN_CHAIN",
          detail: `self-signed certificate in the chain: root ${subject} is not trusted`,
        };
    }
    const next = certs.find((c) => c !== current && issuedBy(current, c));
    if (next === undefined) {
      return depth === 0
        ? {
          code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
          detail:
            `unable to verify the first certificate: unknown issuer ${issuer}, and the server sent no intermediate (a missing intermediate, or a CA that is not trusted)`,
        }
        : {
          code: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
          detail:
            `unknown issuer ${issuer} (unable to get local issuer certificate): the CA that signed ${subject} is not trusted`,
        };
    }
    current = next;
  }
  return { code: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", detail: "the chain does not end in a CA" };
}

/** Every certificate must be valid at `now` (RFC 5280 section 4.1.2.5). */
function datesVerdict(certs: X509Certificate[], now: number): Verdict | null {
  for (const [i, cert] of certs.entries()) {
    const which = i === 0 ? "certificate" : `chain certificate "${escapeText(dn(cert.subject))}"`;
    const notAfter = isoDate(cert.validTo);
    const notBefore = isoDate(cert.validFrom);
    if (Date.parse(notAfter) < now) {
      return {
        code: "CERT_HAS_EXPIRED",
        detail: `${which} expired on ${when(notAfter)} (notAfter)`,
      };
    }
    if (Date.parse(notBefore) > now) {
      return {
        code: "CERT_NOT_YET_VALID",
        detail: `${which} is not valid before ${when(notBefore)} (notBefore)`,
      };
    }
  }
  return null;
}

/** The leaf must hold the name (RFC 6125; node's rules: SANs, CN only without SANs). */
function nameVerdict(leaf: X509Certificate, name: string): Verdict | null {
  const san = leaf.subjectAltName;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
  const peer = {
    subject: cn === undefined ? {} : { CN: cn },
    ...(san === undefined ? {} : { subjectaltname: san }),
  } as unknown as DetailedPeerCertificate;
  if (node.tls.checkServerIdentity(name, peer) === undefined) return null;
  const names = altNames(san);
  if (names.length === 0 && cn !== undefined) names.push(cn);
  const holds = names.length === 0
    ? "it holds no names"
    : `it holds ${names.map((n) => `"${escapeText(n)}"`).join(", ")}`;
  return {
    code: "ERR_TLS_CERT_ALTNAME_INVALID",
    detail: `certificate name does not match "${escapeText(name)}": ${holds}`,
  };
}

/** Chain, then dates, then name: the first failure, or null when all pass. */
function judge(input: {
  certs: X509Certificate[];
  authorizationError: Error | string | null | undefined;
  defaults: string[];
  extra: string[];
  name: string;
  now: number;
}): Verdict | null {
  const leaf = input.certs[0];
  if (leaf === undefined) {
    return { code: "NO_PEER_CERTIFICATE", detail: "the server sent no certificate" };
  }
  const runtime = input.authorizationError === null || input.authorizationError === undefined
    ? null
    : String(
      (input.authorizationError as { code?: unknown })?.code ?? input.authorizationError,
    );
  // The runtime verified the chain (it reports no code or only the name):
  // trust that, else find the reason ourselves (its codes are coarse, e.g. an
  // expired leaf reads UNABLE_TO_VERIFY_LEAF_SIGNATURE).
  if (runtime !== null && runtime !== "ERR_TLS_CERT_ALTNAME_INVALID") {
    const chain = chainVerdict(input.certs, anchorLookup(input.defaults, input.extra));
    if (chain !== null) return chain;
  }
  const dates = datesVerdict(input.certs, input.now);
  if (dates !== null) return dates;
  const name = nameVerdict(leaf, input.name);
  if (name !== null) return name;
  if (runtime !== null && runtime !== "ERR_TLS_CERT_ALTNAME_INVALID") {
    return { code: runtime, detail: `certificate verification failed (${escapeText(runtime)})` };
  }
  return null;
}

/** The host of `host:port` / `[v6]:port`. */
function hostOf(address: string): string {
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracket !== null) return bracket[1]!;
  const colon = address.lastIndexOf(":");
  return colon > 0 && address.indexOf(":") === colon ? address.slice(0, colon) : address;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * The TLS conn: a {@linkcode NodeConn} whose read and write failures caused
 * by a TLS alert (TLS 1.3 servers reject a missing client certificate after
 * the handshake, RFC 8446 section 4.4.2.4) become {@linkcode TlsError}s, and
 * whose close also closes the conn underneath.
 */
class TlsConn extends NodeConn {
  readonly #inner: Conn;
  readonly #duplex: Duplex;
  readonly #context: HandshakeContext;

  constructor(
    socket: TLSSocket,
    options: { facts: ConnFacts; inner: Conn; duplex: Duplex; context: HandshakeContext },
  ) {
    super(socket, options.facts, options.inner);
    this.#inner = options.inner;
    this.#duplex = options.duplex;
    this.#context = options.context;
  }

  override read(buffer: Uint8Array): Promise<number | null> {
    return super.read(buffer).catch((err) => {
      throw this.#translate(err);
    });
  }

  override write(data: Uint8Array): Promise<number> {
    return super.write(data).catch((err) => {
      throw this.#translate(err);
    });
  }

  // Backpressure pauses the stream under TLS, not the TLS socket: Deno 2.9's
  // node:tls never emits "end" for a close_notify or FIN that arrives while
  // the TLS socket is paused, and the read then waits forever (measured: a
  // 16-64 MiB receive into a slow pipe hung in most runs, see bench/RESULTS.md).
  protected override pauseInput(): void {
    this.#duplex.pause();
  }

  protected override resumeInput(): void {
    this.#duplex.resume();
  }

  protected override inputPaused(): boolean {
    return this.#duplex.isPaused();
  }

  override close(): void {
    super.close();
    this.#duplex.destroy();
    this.#inner.close();
  }

  #translate(err: unknown): unknown {
    const alert = alertOf(err);
    const code = (err as { code?: unknown })?.code;
    if (alert === null || typeof code !== "string" || !code.startsWith("ERR_SSL")) return err;
    return new TlsError(alertDetail(alert, this.#context), {
      address: this.#context.address,
      facts: this.facts.tls,
      cause: err,
    });
  }
}

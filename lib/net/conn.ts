/**
 * The one connection interface every engine sees, whatever layers it went
 * through (plain TCP, a proxy tunnel, a PROXY header, TLS, a dialog), and the
 * record of what each layer learned. After Go's `net.Conn` plus
 * `tls.ConnectionState`.
 *
 * @module
 */

/**
 * How a connection ended, one vocabulary for every engine:
 * - `eof`: the peer closed and we had nothing left to send;
 * - `local`: we closed on purpose (`-q` after EOF, `--max-bytes`, `-z`, the caller);
 * - `timeout`: one of its deadlines fired (the error's `timer` says which);
 * - `error`: connect, read or write failed (reset, refused, broken pipe ...);
 * - `aborted`: the run was stopped (SIGINT, SIGTERM) or the engine stopped on a failure.
 */
export type CloseReason = "eof" | "local" | "timeout" | "error" | "aborted";

/** Per-phase times of one dial, in ms; null when the phase did not happen. */
export interface PhaseTimings {
  /** Name resolution (0 for an IP literal). */
  resolveMs: number | null;
  /** TCP connect to the first hop (the proxy when there is one). */
  connectMs: number | null;
  /** Proxy handshake until the tunnel to the target is ready (proxy connect included). */
  proxyMs: number | null;
  /** TLS handshake. */
  tlsMs: number | null;
}

/** A certificate as reports show it. Dates are ISO 8601 (UTC). */
export interface CertificateFacts {
  /** Subject, e.g. `CN=localhost`. */
  subject: string;
  /** Issuer, e.g. `CN=tcpc test CA`. */
  issuer: string;
  /** DNS names and IP addresses it is valid for (`DNS:` / `IP:` prefixes removed). */
  subjectAltNames: string[];
  /** Start of validity. */
  notBefore: string;
  /** End of validity. */
  notAfter: string;
  /** Whole days from now to `notAfter` (negative once expired). */
  daysLeft: number;
  /** SHA-256 fingerprint, colon-separated hex. */
  sha256: string;
  /** Serial number, hex. */
  serial: string;
}

/** One certificate of the chain the peer sent, leaf first. */
export interface ChainEntry {
  /** Subject. */
  subject: string;
  /** Issuer. */
  issuer: string;
  /** End of validity, ISO 8601. */
  notAfter: string;
}

/** What the TLS handshake learned (the JSON `tls` field). */
export interface TlsFacts {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** Negotiated cipher suite name. */
  cipher: string | null;
  /** Negotiated ALPN protocol, or null. */
  alpn: string | null;
  /** True when the chain and the name verified. */
  verified: boolean;
  /** Why verification failed (OpenSSL's code, e.g. `CERT_HAS_EXPIRED`), or null. */
  verifyError: string | null;
  /** The peer's leaf certificate, or null when it sent none. */
  certificate: CertificateFacts | null;
  /** The chain as sent, leaf first. */
  chain: ChainEntry[];
}

/** The proxy a connection went through (never its credentials). */
export interface ProxyFacts {
  /** The proxy protocol. */
  type: "socks5" | "socks5h" | "socks4" | "socks4a" | "http";
  /** The proxy's `host:port`. */
  address: string;
}

/** What every layer of one connection learned. */
export interface ConnFacts {
  /** Every address the host (or the proxy's host) resolved to, in the order tried. */
  addresses: string[];
  /** Per-phase times. */
  timings: PhaseTimings;
  /** TLS facts, or null without TLS. */
  tls: TlsFacts | null;
  /** The proxy, or null without one. */
  proxy: ProxyFacts | null;
}

/**
 * A connection as every engine sees it.
 *
 * @example Send a line and read the reply through any layer stack
 * ```ts
 * import type { Conn } from "./conn.ts";
 * declare const conn: Conn;
 * await conn.write(new TextEncoder().encode("PING\r\n"));
 * const buffer = new Uint8Array(1024);
 * const n = await conn.read(buffer);
 * console.log(n, conn.remoteAddress, conn.facts.tls?.protocol);
 * conn.close();
 * ```
 */
export interface Conn {
  /** Reads into `buffer`; resolves to the count read, or null at EOF. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes all of `data` (partial writes are handled inside); resolves to `data.length`. */
  write(data: Uint8Array): Promise<number>;
  /** Half-closes: the peer sees EOF, our reads go on. */
  closeWrite(): Promise<void>;
  /** Closes now; pending reads and writes reject. Idempotent, never throws. */
  close(): void;
  /** Our end of the TCP connection, `ip:port`. */
  readonly localAddress: string;
  /** The TCP peer, `ip:port` (the proxy when there is one). */
  readonly remoteAddress: string;
  /** What the layers learned. */
  readonly facts: ConnFacts;
}

/**
 * Empty facts, for a layer to fill in.
 *
 * @example
 * ```ts
 * import { emptyFacts } from "./conn.ts";
 * console.log(emptyFacts().timings.tlsMs); // null
 * ```
 */
export function emptyFacts(): ConnFacts {
  return {
    addresses: [],
    timings: { resolveMs: null, connectMs: null, proxyMs: null, tlsMs: null },
    tls: null,
    proxy: null,
  };
}

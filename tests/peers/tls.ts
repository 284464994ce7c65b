/**
 * TLS peers for tests: certificates made with `openssl` into a temp dir (a CA,
 * good, expired, not-yet-valid and wrong-name leaves, an intermediate CA with
 * its own leaf, a client CA and a client certificate), and real servers that
 * use them: `openssl s_server`, socat `OPENSSL-LISTEN`, a Python `ssl`
 * STARTTLS server, a plain TCP server that answers HTTP, and a silent one.
 * Everything listens on 127.0.0.1 only and stops in `stop()`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { freePort, type Peer, startProcess, stopChild, waitForPort } from "./servers.ts";
import { acceptEach } from "./accept.ts";

/** One certificate and its key, as paths and PEM text. */
export interface CertFiles {
  /** Certificate path. */
  cert: string;
  /** Key path. */
  key: string;
  /** Certificate PEM. */
  certPem: string;
  /** Key PEM. */
  keyPem: string;
}

/** Every certificate the tests use. */
export interface TlsFixtures extends AsyncDisposable {
  /** The temp dir. */
  dir: string;
  /** The root CA (`CN=tcpc test CA`). */
  ca: CertFiles;
  /** CN/SAN localhost and IP 127.0.0.1, valid now, signed by the CA. */
  good: CertFiles;
  /** Expired (2020-01-01 to 2021-01-01). */
  expired: CertFiles;
  /** Valid only from two years from now. */
  future: CertFiles;
  /** Valid now, but only for 3.5 more days (3 whole days left), for `--cert-days`. */
  soon: CertFiles;
  /** Valid now for `wrong.example` and `other.example` only. */
  wrongName: CertFiles;
  /** An intermediate CA signed by the root (`CN=tcpc test intermediate`). */
  intermediate: CertFiles;
  /** A localhost leaf signed by the intermediate. */
  viaIntermediate: CertFiles;
  /** `viaIntermediate` followed by the intermediate (the full chain to serve). */
  fullChain: string;
  /** A self-signed CA:FALSE certificate for localhost (not from our CA). */
  selfSigned: CertFiles;
  /** The CA that signs client certificates (`CN=tcpc client CA`). */
  clientCa: CertFiles;
  /** A client certificate (`CN=tcpc client`) signed by the client CA. */
  client: CertFiles;
  /** Removes the temp dir. */
  remove(): Promise<void>;
}

const CONFIG = `
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = ca_default
[ ca_default ]
dir = DIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ root ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ intermediate ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1
[ wrong ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example,DNS:other.example
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

/**
 * Runs `openssl` in `cwd`; throws with its stderr when it fails.
 *
 * @example Make a key
 * ```ts
 * await openssl(["genpkey", "-algorithm", "EC", "-out", "a.key"], "/tmp/fixtures");
 * ```
 */
export async function openssl(args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

/**
 * Makes an EC P-256 private key `name` in `dir` (fast, unlike RSA).
 *
 * @example A key for a leaf
 * ```ts
 * await ecKey("leaf.key", "/tmp/fixtures");
 * ```
 */
export function ecKey(name: string, dir: string): Promise<void> {
  return openssl(
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name],
    dir,
  );
}

/** `YYMMDDHHMMSSZ` (UTCTime, as `openssl ca -startdate` takes it). */
function utcTime(date: Date): string {
  return date.toISOString().replace(
    /^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/,
    "$1$2$3$4$5$6Z",
  );
}

/**
 * Makes every certificate in a fresh temp dir (EC P-256 keys: fast). Call once
 * per test file; `remove()` (or `await using`) deletes them.
 */
export async function makeTlsFixtures(): Promise<TlsFixtures> {
  const dir = await Deno.makeTempDir({ prefix: "tcpc-tls-" });
  try {
    await Deno.writeTextFile(`${dir}/openssl.cnf`, CONFIG.replace("DIR", dir));
    await Deno.writeTextFile(`${dir}/index.txt`, "");
    await Deno.writeTextFile(`${dir}/serial`, "1000\n");
    await Deno.mkdir(`${dir}/newcerts`);
    const key = (name: string) => ecKey(`${name}.key`, dir);
    const selfSign = async (name: string, cn: string, ext: string) => {
      await key(name);
      await openssl([
        "req",
        "-config",
        "openssl.cnf",
        "-x509",
        "-new",
        "-key",
        `${name}.key`,
        "-subj",
        `/CN=${cn}`,
        "-days",
        "3650",
        "-extensions",
        ext,
        "-out",
        `${name}.pem`,
      ], dir);
    };
    const sign = async (
      name: string,
      cn: string,
      options: { issuer: string; ext: string; start?: Date; end?: Date },
    ) => {
      await key(name);
      await openssl([
        "req",
        "-config",
        "openssl.cnf",
        "-new",
        "-key",
        `${name}.key`,
        "-subj",
        `/CN=${cn}`,
        "-out",
        `${name}.csr`,
      ], dir);
      const dates = options.start !== undefined && options.end !== undefined
        ? ["-startdate", utcTime(options.start), "-enddate", utcTime(options.end)]
        : ["-days", "365"];
      await openssl([
        "ca",
        "-batch",
        "-config",
        "openssl.cnf",
        "-cert",
        `${options.issuer}.pem`,
        "-keyfile",
        `${options.issuer}.key`,
        "-extensions",
        options.ext,
        "-notext",
        ...dates,
        "-in",
        `${name}.csr`,
        "-out",
        `${name}.pem`,
      ], dir);
    };
    await selfSign("ca", "tcpc test CA", "root");
    await sign("good", "localhost", { issuer: "ca", ext: "server" });
    await sign("expired", "localhost", {
      issuer: "ca",
      ext: "server",
      start: new Date("2020-01-01T00:00:00Z"),
      end: new Date("2021-01-01T00:00:00Z"),
    });
    const year = 365 * 86_400_000;
    await sign("future", "localhost", {
      issuer: "ca",
      ext: "server",
      start: new Date(Date.now() + 2 * year),
      end: new Date(Date.now() + 3 * year),
    });
    await sign("soon", "localhost", {
      issuer: "ca",
      ext: "server",
      start: new Date(Date.now() - 86_400_000),
      end: new Date(Date.now() + 3.5 * 86_400_000),
    });
    await sign("wrong", "wrong.example", { issuer: "ca", ext: "wrong" });
    await sign("intermediate", "tcpc test intermediate", { issuer: "ca", ext: "intermediate" });
    await sign("leaf2", "localhost", { issuer: "intermediate", ext: "server" });
    await selfSign("self", "localhost", "server");
    await selfSign("clientca", "tcpc client CA", "root");
    await sign("client", "tcpc client", { issuer: "clientca", ext: "client" });
    const files = async (name: string): Promise<CertFiles> => ({
      cert: `${dir}/${name}.pem`,
      key: `${dir}/${name}.key`,
      certPem: await Deno.readTextFile(`${dir}/${name}.pem`),
      keyPem: await Deno.readTextFile(`${dir}/${name}.key`),
    });
    const viaIntermediate = await files("leaf2");
    const intermediate = await files("intermediate");
    const fullChain = `${dir}/fullchain.pem`;
    await Deno.writeTextFile(fullChain, viaIntermediate.certPem + intermediate.certPem);
    const remove = () => Deno.remove(dir, { recursive: true });
    return {
      dir,
      ca: await files("ca"),
      good: await files("good"),
      expired: await files("expired"),
      future: await files("future"),
      soon: await files("soon"),
      wrongName: await files("wrong"),
      intermediate,
      viaIntermediate,
      fullChain,
      selfSigned: await files("self"),
      clientCa: await files("clientca"),
      client: await files("client"),
      remove,
      [Symbol.asyncDispose]: remove,
    };
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

/** Options of {@linkcode startOpensslServer}. */
export interface OpensslServerOptions {
  /** The certificate (PEM file, may hold a chain when `chain` is unset). */
  cert: string;
  /** Its key. */
  key: string;
  /** Extra chain certificates to send (`-cert_chain`). @default {undefined} */
  chain?: string;
  /** ALPN protocols the server accepts (`-alpn`). @default {undefined} */
  alpn?: string[];
  /** Require a client certificate signed by this CA file (`-Verify 1`). @default {undefined} */
  requireClientCa?: string;
  /** Highest protocol (`-tls1_2` to force TLS 1.2). @default {undefined} */
  tls12?: boolean;
  /**
   * To a client that sends SNI `name`, serve this certificate and key instead
   * (`-servername`, `-cert2`, `-key2`); `fatal`: refuse any other name with an
   * unrecognized_name alert (`-servername_fatal`). @default {undefined}
   */
  sni?: { name: string; cert: string; key: string; fatal?: boolean };
}

/**
 * `openssl s_server` on loopback answering `-www` (a status page for any GET),
 * so a handshake completes and the connection stays until we close it.
 */
export function startOpensslServer(options: OpensslServerOptions): Promise<Peer> {
  return startProcess("openssl", (port) => [
    "s_server",
    "-accept",
    `127.0.0.1:${port}`,
    "-cert",
    options.cert,
    "-key",
    options.key,
    ...(options.chain === undefined ? [] : ["-cert_chain", options.chain]),
    ...(options.alpn === undefined ? [] : ["-alpn", options.alpn.join(",")]),
    ...(options.requireClientCa === undefined
      ? []
      : ["-Verify", "1", "-verify_return_error", "-CAfile", options.requireClientCa]),
    ...(options.tls12 ? ["-tls1_2"] : []),
    ...(options.sni === undefined ? [] : [
      "-servername",
      options.sni.name,
      "-cert2",
      options.sni.cert,
      "-key2",
      options.sni.key,
      ...(options.sni.fatal ? ["-servername_fatal"] : []),
    ]),
    "-www",
    "-quiet",
  ]);
}

/** Options of {@linkcode startSocatTls}. */
export interface SocatTlsOptions {
  /** Certificate file. */
  cert: string;
  /** Key file. */
  key: string;
  /** What to run per connection. @default {"PIPE"} (echo) */
  target?: string;
}

/** socat `OPENSSL-LISTEN` with `fork` on loopback (an echo by default). */
export function startSocatTls(options: SocatTlsOptions): Promise<Peer> {
  // -b 4096: socat's PIPE echo can deadlock with its default 8 KiB blocks under a
  // large transfer (see startSocat).
  return startProcess("socat", (port) => [
    "-b",
    "4096",
    `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,cert=${options.cert},` +
    `key=${options.key},verify=0`,
    options.target ?? "PIPE",
  ]);
}

/** The protocols of `starttls_server.py`. */
export type StartTlsProtocol = "smtp" | "imap" | "pop3" | "ftp" | "postgres";

const STARTTLS_SCRIPT = fileURLToPath(new URL("./starttls_server.py", import.meta.url));

/** Options of {@linkcode startStartTlsServer}. */
export interface StartTlsServerOptions {
  /** The plain-text dialog to speak before TLS. */
  protocol: StartTlsProtocol;
  /** Certificate file. */
  cert: string;
  /** Key file. */
  key: string;
  /** Refuse the upgrade (an error reply, or `N` for postgres). @default {false} */
  refuse?: boolean;
}

/**
 * `tests/peers/starttls_server.py` (python3 `ssl`): speaks the protocol's
 * plain part, upgrades, then echoes.
 */
export async function startStartTlsServer(options: StartTlsServerOptions): Promise<Peer> {
  const port = freePort();
  const child = new Deno.Command("python3", {
    args: [
      STARTTLS_SCRIPT,
      options.protocol,
      String(port),
      options.cert,
      options.key,
      ...(options.refuse ? ["refuse"] : []),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const stop = async () => {
    const status = stopChild(child);
    await reader.cancel();
    await status;
  };
  try {
    // The script prints "ready" once it listens: no probing connect to eat its one accept loop.
    const timer = setTimeout(() => reader.cancel(), 10_000);
    try {
      const { value } = await reader.read();
      if (value === undefined || !new TextDecoder().decode(value).includes("ready")) {
        throw new Error("starttls_server.py did not start");
      }
    } finally {
      // stdout stays open until stop(): closing it early can kill the script
      // with EPIPE while it still flushes "ready".
      clearTimeout(timer);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop, [Symbol.asyncDispose]: stop };
}

/** A plain TCP peer (not TLS) run in this process. */
export interface PlainPeer extends Peer {
  /** Bytes the server received, all connections together. */
  received(): number;
}

/**
 * A plain TCP server in this process: `reply` (when given) is sent once the
 * first bytes arrive, like a web server answering a TLS hello with
 * `HTTP/1.1 400`; without `reply` it reads and stays silent until stopped.
 */
export function startPlainServer(reply?: string): Promise<PlainPeer> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns = new Set<Deno.Conn>();
  let received = 0;
  const serveOne = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    let replied = false;
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        received += n;
        if (reply !== undefined && !replied) {
          replied = true;
          await conn.write(new TextEncoder().encode(reply));
          conn.close();
          break;
        }
      }
    } catch {
      /* closed by stop() or by the client */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const tasks: Promise<void>[] = [];
  const loop = acceptEach(listener, (conn) => {
    conns.add(conn);
    tasks.push(serveOne(conn));
  });
  const stop = async () => {
    listener.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await loop;
    await Promise.all(tasks);
  };
  return Promise.resolve({
    port,
    received: () => received,
    stop,
    [Symbol.asyncDispose]: stop,
  });
}

export { waitForPort };

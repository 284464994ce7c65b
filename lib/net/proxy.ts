/**
 * The proxy layer: turns an open TCP connection to a proxy into a tunnel to
 * the target, with SOCKS5 (RFC 1928, username/password RFC 1929), SOCKS4,
 * SOCKS4a, or HTTP CONNECT (RFC 9110 section 9.3.6, Basic authentication
 * RFC 7617). After Go's `golang.org/x/net/proxy`: a function from a Conn to a
 * Conn, so the layers above never know a proxy was there.
 *
 * Every read of the handshake is exact or byte-bounded, so no byte of the
 * tunnel is ever consumed here: what the target sends first stays in the
 * socket for the engine.
 *
 * Which side failed is always said. The proxy's own failures (garbage,
 * rejected credentials, no acceptable method, a policy refusal) are kind
 * `proxy` (exit 8); when the proxy reports the target's failure the kind is
 * the target's:
 *
 * | proxy says | kind |
 * | --- | --- |
 * | SOCKS5 reply 5, connection refused | `refused` |
 * | SOCKS5 reply 3 or 4, network or host unreachable | `unreachable` |
 * | SOCKS5 reply 6, TTL expired | `timeout` |
 * | SOCKS5 reply 1, 2, 7, 8 (failure, ruleset, command, address type) | `proxy` |
 * | SOCKS4 reply 91, "rejected or failed" | `refused` (see below) |
 * | SOCKS4 reply 92, 93 (identd) | `proxy` |
 * | HTTP 407 (tinyproxy: 401), 403 and every other 4xx | `proxy` |
 * | HTTP 500, 502, 503 (tinyproxy sends "500 Unable to connect") | `unreachable` |
 * | HTTP 504 | `timeout` |
 *
 * SOCKS4 reply 91 means both "the target could not be reached" and "denied by
 * a rule"; danted sends it for a refused target, which is by far the common
 * case, so it is `refused` (exit 1) and the message says it is ambiguous.
 * No SOCKS reply and no HTTP status tells a failed name lookup apart: tinyproxy
 * answers "500 Unable to connect" for a refused port and an unknown name alike,
 * so a remote lookup failure reaches the user as `unreachable`, with the
 * proxy's own words quoted. A lookup we do ourselves (socks5, socks4) is `dns`.
 *
 * @module
 */

import { type ErrorKind, NetError } from "../errors.ts";
import { escapeBytes, escapeText } from "../report/safe_text.ts";
import { hostKind, joinHostPort } from "./address.ts";
import type { Conn, ProxyFacts } from "./conn.ts";
import { ipBytes } from "./ip_bytes.ts";
import { toNetError } from "./net_errors.ts";

/**
 * The proxy protocols. `socks5h` and `socks4a` let the proxy resolve the target's name.
 *
 * @example
 * ```ts
 * import type { ProxyType } from "./proxy.ts";
 * const type: ProxyType = "socks5h";
 * ```
 */
export type ProxyType = ProxyFacts["type"];

/** Options of {@linkcode proxyLayer}. */
export interface ProxyLayerOptions {
  /** The proxy protocol. */
  type: ProxyType;
  /** The proxy's `host:port`, for facts and messages. */
  proxyAddress: string;
  /** The target's host: a name or an IP literal (no brackets). */
  targetHost: string;
  /** The target's port, 1-65535. */
  targetPort: number;
  /** User name (SOCKS5, HTTP) or user id (SOCKS4/4a). @default {undefined} (none) */
  username?: string;
  /** Password (SOCKS5, HTTP; not SOCKS4). Never appears in any message. @default {undefined} */
  password?: string;
  /** Aborting closes the connection and rejects with `signal.reason`. @default {undefined} */
  signal?: AbortSignal;
  /**
   * Resolves the target's name where the client must (`socks5`, `socks4`) to
   * one IP address (IPv4 for `socks4`).
   * @default {node:dns/promises lookup; IPv4 only for socks4}
   */
  resolveTarget?: (host: string) => Promise<string>;
}

/**
 * Longest HTTP response head we read before giving up (bytes).
 *
 * @example A proxy that never ends its head fails after this many bytes
 * ```ts
 * import { MAX_HTTP_HEAD } from "./proxy.ts";
 * console.log(MAX_HTTP_HEAD); // 16384
 * ```
 */
export const MAX_HTTP_HEAD = 16 * 1024;

/** What every step of one handshake needs: the conn and how to word a failure. */
interface Handshake {
  conn: Conn;
  options: ProxyLayerOptions;
  fail(kind: ErrorKind, detail: string, cause?: unknown): NetError;
}

/**
 * Runs the proxy handshake on `conn` (an open TCP connection to the proxy) and
 * returns the same conn, now a tunnel to the target, with `facts.proxy` set.
 * On failure the conn is closed and a {@linkcode NetError} (op `proxy`, address
 * the proxy) says which side failed; on abort the conn is closed and the
 * promise rejects with `signal.reason`.
 *
 * @example Reach db:5432 through a SOCKS5 proxy that resolves the name
 * ```ts
 * import { proxyLayer } from "./proxy.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 1080 }));
 * const tunnel = await proxyLayer(conn, {
 *   type: "socks5h",
 *   proxyAddress: "127.0.0.1:1080",
 *   targetHost: "db",
 *   targetPort: 5432,
 *   signal: AbortSignal.timeout(5000),
 * });
 * console.log(tunnel.facts.proxy); // { type: "socks5h", address: "127.0.0.1:1080" }
 * tunnel.close();
 * ```
 */
export async function proxyLayer(conn: Conn, options: ProxyLayerOptions): Promise<Conn> {
  try {
    checkOptions(options);
  } catch (err) {
    conn.close();
    throw err;
  }
  const { signal } = options;
  if (signal?.aborted) {
    conn.close();
    throw signal.reason;
  }
  conn.facts.proxy = { type: options.type, address: options.proxyAddress };
  const where = `connect "${joinHostPort(options.targetHost, options.targetPort)}" via ${
    options.type === "http" ? "HTTP" : options.type
  } proxy "${options.proxyAddress}"`;
  const hs: Handshake = {
    conn,
    options,
    fail(kind, detail, cause) {
      const err = new NetError(kind, detail, {
        op: "proxy",
        address: options.proxyAddress,
        cause,
      });
      // The wording names the target and the proxy in one prefix.
      err.message = `${where}: ${detail}`;
      return err;
    },
  };
  const onAbort = () => conn.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    switch (options.type) {
      case "socks5":
      case "socks5h":
        await socks5(hs);
        break;
      case "socks4":
      case "socks4a":
        await socks4(hs);
        break;
      case "http":
        await httpConnect(hs);
        break;
    }
    return conn;
  } catch (err) {
    conn.close();
    if (signal?.aborted) throw signal.reason;
    if (err instanceof NetError) throw err;
    // A reset or EOF from the proxy in the middle of its own handshake is the proxy's failure.
    const net = toNetError(err, { op: "proxy", address: options.proxyAddress });
    throw hs.fail(
      "proxy",
      `the proxy connection failed during the handshake: ${detailOf(net)}`,
      err,
    );
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

function detailOf(err: Error): string {
  return err instanceof NetError ? err.message.replace(/^[^:]*: /, "") : err.message;
}

function checkOptions(options: ProxyLayerOptions): void {
  const { targetPort, username, password, type } = options;
  if (!Number.isInteger(targetPort) || targetPort < 1 || targetPort > 65535) {
    throw new RangeError(`invalid target port ${targetPort}: must be 1-65535`);
  }
  if ((type === "socks4" || type === "socks4a") && password !== undefined) {
    throw new RangeError(`${type} has no password, only a user id`);
  }
  if (type === "socks5" || type === "socks5h") {
    // RFC 1929: each field is 1-255 bytes.
    for (const [name, value] of [["username", username], ["password", password]] as const) {
      const bytes = value === undefined ? 0 : encoder.encode(value).length;
      if (value !== undefined && (bytes < 1 || bytes > 255)) {
        throw new RangeError(`SOCKS5 ${name} must be 1-255 bytes (RFC 1929)`);
      }
    }
  }
}

const encoder = new TextEncoder();

/** Reads exactly `n` bytes; EOF before that is the proxy's failure. */
async function readExact(hs: Handshake, n: number, what: string): Promise<Uint8Array> {
  const buffer = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await hs.conn.read(buffer.subarray(got));
    if (read === null) {
      throw hs.fail(
        "proxy",
        `the proxy closed the connection during the handshake (${got} of ${n} bytes of its ${what})`,
      );
    }
    got += read;
  }
  return buffer;
}

/** The address we send for the target: a name for the proxy, or an IP we resolved. */
async function targetAddress(hs: Handshake, remote: boolean, family: 0 | 4): Promise<string> {
  const host = hs.options.targetHost;
  const kind = hostKind(host);
  if (kind !== "name" || remote) return host;
  const resolve = hs.options.resolveTarget ??
    (async (name: string) => {
      const { lookup } = await import("node:dns/promises");
      return (await lookup(name, { family })).address;
    });
  try {
    return await resolve(host);
  } catch (err) {
    if (hs.options.signal?.aborted) throw err;
    const net = toNetError(err, { op: "lookup", address: host });
    throw hs.fail(
      net instanceof NetError ? net.kind : "dns",
      `our lookup of "${escapeText(host)}" failed: ${detailOf(net)}`,
      err,
    );
  }
}

function portBytes(port: number): Uint8Array {
  return Uint8Array.of(port >> 8, port & 0xff);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** RFC 1928 section 6 reply codes, with the kind each one means. */
const SOCKS5_REPLIES: Record<number, [ErrorKind, string]> = {
  1: ["proxy", "the proxy reported a general failure"],
  2: ["proxy", "the proxy's rules do not allow this connection"],
  3: ["unreachable", "the target's network is unreachable"],
  4: ["unreachable", "the target host is unreachable"],
  5: ["refused", "the target refused the connection"],
  6: ["timeout", "the connection to the target timed out (TTL expired)"],
  7: ["proxy", "the proxy does not support the CONNECT command"],
  8: ["proxy", "the proxy does not support this address type"],
};

async function socks5(hs: Handshake): Promise<void> {
  const { conn, options } = hs;
  const withAuth = options.username !== undefined || options.password !== undefined;
  // Offer "no authentication" and, with credentials, username/password (RFC 1929):
  // the proxy picks one (as curl does).
  await conn.write(withAuth ? Uint8Array.of(5, 2, 0x00, 0x02) : Uint8Array.of(5, 1, 0x00));
  const [version, method] = await readExact(hs, 2, "method selection");
  if (version !== 5) {
    throw hs.fail("proxy", `the proxy did not answer as a SOCKS5 proxy (version byte ${version})`);
  }
  if (method === 0xff) {
    throw hs.fail(
      "proxy",
      withAuth
        ? "the proxy accepts none of our authentication methods (offered: none, username/password)"
        : "the proxy requires authentication (give credentials in the URL or --proxy-auth)",
    );
  }
  if (method === 0x02 && withAuth) {
    const user = encoder.encode(options.username ?? "");
    const pass = encoder.encode(options.password ?? "");
    await conn.write(concat(Uint8Array.of(1, user.length), user, Uint8Array.of(pass.length), pass));
    const [, status] = await readExact(hs, 2, "authentication reply");
    if (status !== 0) {
      throw hs.fail(
        "proxy",
        `the proxy rejected the username and password (RFC 1929 status ${status})`,
      );
    }
  } else if (method !== 0x00) {
    throw hs.fail(
      "proxy",
      `the proxy chose authentication method ${method}, which we did not offer`,
    );
  }
  const host = await targetAddress(hs, options.type === "socks5h", 0);
  const kind = hostKind(host);
  const name = encoder.encode(host);
  if (kind === "name" && name.length > 255) {
    throw hs.fail("proxy", "the target's name is longer than 255 bytes (RFC 1928)");
  }
  const address = kind === "ipv4"
    ? concat(Uint8Array.of(1), ipBytes(host))
    : kind === "ipv6"
    ? concat(Uint8Array.of(4), ipBytes(host))
    : concat(Uint8Array.of(3, name.length), name);
  await conn.write(concat(Uint8Array.of(5, 1, 0), address, portBytes(options.targetPort)));
  const [rVersion, reply, , atyp] = await readExact(hs, 4, "reply");
  if (rVersion !== 5) {
    throw hs.fail("proxy", `the proxy's reply is not SOCKS5 (version byte ${rVersion})`);
  }
  if (reply !== 0) {
    const [kindOf, text] = SOCKS5_REPLIES[reply ?? 0] ??
      ["proxy", "the proxy sent an unknown reply code"];
    throw hs.fail(kindOf, `${text} (SOCKS reply ${reply})`);
  }
  // BND.ADDR and BND.PORT: read them all so the tunnel starts clean.
  const rest = atyp === 1
    ? 6
    : atyp === 4
    ? 18
    : atyp === 3
    ? (await readExact(hs, 1, "reply"))[0]! + 2
    : -1;
  if (rest < 0) throw hs.fail("proxy", `the proxy's reply has an unknown address type ${atyp}`);
  await readExact(hs, rest, "reply");
}

/** SOCKS4 reply codes (90 is success). */
const SOCKS4_REPLIES: Record<number, [ErrorKind, string]> = {
  91: [
    "refused",
    "the proxy rejected the request or the target refused the connection (SOCKS4 reply 91: " +
    "ambiguous)",
  ],
  92: ["proxy", "the proxy could not reach our identd (SOCKS4 reply 92)"],
  93: ["proxy", "the proxy's identd check failed for our user id (SOCKS4 reply 93)"],
};

async function socks4(hs: Handshake): Promise<void> {
  const { conn, options } = hs;
  const remote = options.type === "socks4a";
  const host = await targetAddress(hs, remote, 4);
  const kind = hostKind(host);
  if (kind === "ipv6") {
    throw hs.fail("proxy", `${options.type} carries only IPv4 addresses: use socks5 for IPv6`);
  }
  const user = encoder.encode(options.username ?? "");
  // SOCKS4a: DSTIP 0.0.0.1 means "the name follows the user id".
  const ip = kind === "ipv4" ? ipBytes(host) : Uint8Array.of(0, 0, 0, 1);
  const name = kind === "name" ? concat(encoder.encode(host), Uint8Array.of(0)) : new Uint8Array();
  await conn.write(
    concat(Uint8Array.of(4, 1), portBytes(options.targetPort), ip, user, Uint8Array.of(0), name),
  );
  const [version, code] = await readExact(hs, 8, "reply");
  if (version !== 0 && version !== 4) {
    throw hs.fail("proxy", `the proxy's reply is not SOCKS4 (version byte ${version})`);
  }
  if (code === 90) return;
  const [kindOf, text] = SOCKS4_REPLIES[code ?? 0] ??
    ["proxy", `the proxy sent an unknown reply code (SOCKS4 reply ${code})`];
  throw hs.fail(kindOf, text);
}

/** What an HTTP status from a CONNECT means: 2xx is success. */
function httpFailure(status: number): [ErrorKind, string] {
  // tinyproxy's BasicAuth answers 401 where RFC 9110 section 15.5.8 says 407.
  if (status === 407 || status === 401) {
    return ["proxy", "the proxy requires or rejected our credentials"];
  }
  if (status === 504) return ["timeout", "the proxy timed out connecting to the target"];
  if (status === 500 || status === 502 || status === 503) {
    return ["unreachable", "the proxy could not connect to the target"];
  }
  return ["proxy", "the proxy refused the CONNECT request"];
}

async function httpConnect(hs: Handshake): Promise<void> {
  const { conn, options } = hs;
  const authority = joinHostPort(options.targetHost, options.targetPort);
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (options.username !== undefined || options.password !== undefined) {
    // RFC 7617: Basic credentials are base64("user:pass") in UTF-8.
    const token = encoder.encode(`${options.username ?? ""}:${options.password ?? ""}`).toBase64();
    lines.push(`Proxy-Authorization: Basic ${token}`);
  }
  await conn.write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
  // 1xx heads come before the final one (RFC 9110 section 15.2); bounded by MAX_HTTP_HEAD.
  let budget = MAX_HTTP_HEAD;
  while (true) {
    const head = await readHead(hs, budget);
    budget -= head.length;
    const end = head.findIndex((b) => b === 0x0a);
    const statusLine = head.subarray(0, end < 0 ? head.length : end);
    const text = new TextDecoder().decode(statusLine).replace(/\r$/, "");
    const match = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(text);
    const quoted = escapeBytes(statusLine, { maxBytes: 200 }).replace(/\\r$/, "");
    if (match?.[1] === undefined) {
      throw hs.fail("proxy", `the proxy did not answer as an HTTP proxy ("${quoted}")`);
    }
    const status = Number(match[1]);
    if (status >= 100 && status < 200) continue;
    if (status >= 200 && status < 300) return;
    const [kind, detail] = httpFailure(status);
    throw hs.fail(kind, `${detail} (HTTP "${quoted}")`);
  }
}

/**
 * Reads one response head up to and including its blank line, never a byte
 * past it: each read asks for no more bytes than the shortest way the head
 * could end (`\n\n`, lenient as RFC 9112 section 2.2 allows, or `\r\n\r\n`).
 */
async function readHead(hs: Handshake, budget: number): Promise<Uint8Array> {
  const head = new Uint8Array(budget);
  let got = 0;
  while (true) {
    const last = got > 0 ? head[got - 1] : undefined;
    const want = last === 0x0a || last === 0x0d ? 1 : 2;
    if (got + want > budget) {
      throw hs.fail("proxy", `the proxy's response head is longer than ${MAX_HTTP_HEAD} bytes`);
    }
    const n = await hs.conn.read(head.subarray(got, got + want));
    if (n === null) {
      const quoted = escapeBytes(head.subarray(0, got), { maxBytes: 200 });
      throw hs.fail(
        "proxy",
        got === 0
          ? "the proxy closed the connection without answering"
          : `the proxy closed the connection in its response head ("${quoted}")`,
      );
    }
    got += n;
    if (ended(head.subarray(0, got))) return head.slice(0, got);
  }
}

function ended(head: Uint8Array): boolean {
  const n = head.length;
  if (n >= 2 && head[n - 1] === 0x0a && head[n - 2] === 0x0a) return true;
  return n >= 4 && head[n - 1] === 0x0a && head[n - 2] === 0x0d && head[n - 3] === 0x0a &&
    head[n - 4] === 0x0d;
}

/**
 * The HAProxy PROXY protocol header (haproxy's doc/proxy-protocol.txt,
 * versions 1 and 2): a few bytes sent before the data so that a server behind
 * a relay learns the original client's address. Only TCP over IPv4 and IPv6
 * (the `PROXY` command; no TLVs).
 *
 * @module
 */

import { ipFamily } from "./address.ts";
import type { Conn } from "./conn.ts";
import { ipBytes } from "./ip_bytes.ts";
import { toNetError } from "./net_errors.ts";

/** One end of the connection the header describes. */
export interface ProxyHeaderEndpoint {
  /** An IP literal, IPv4 or IPv6 (no brackets; a `%zone` is dropped). */
  address: string;
  /** The port, 0-65535. */
  port: number;
}

/** Options of {@linkcode proxyHeader}. */
export interface ProxyHeaderOptions {
  /** 1: the text header; 2: the binary header. */
  version: 1 | 2;
  /** The client's end (ours). */
  source: ProxyHeaderEndpoint;
  /** The server's end. Must be the same address family as `source`. */
  destination: ProxyHeaderEndpoint;
}

/**
 * The 12-byte signature that starts every v2 header (section 2.2).
 *
 * @example Tell a v2 header from a v1 one
 * ```ts
 * import { PROXY_V2_SIGNATURE } from "./proxy_header.ts";
 * const header = new Uint8Array(16);
 * console.log(PROXY_V2_SIGNATURE.every((b, i) => header[i] === b)); // false
 * ```
 */
export const PROXY_V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

function checkEndpoint(name: string, end: ProxyHeaderEndpoint): 4 | 6 {
  const family = ipFamily(end.address);
  if (family !== 4 && family !== 6) {
    throw new RangeError(`PROXY header ${name} "${end.address}" is not an IP address`);
  }
  if (!Number.isInteger(end.port) || end.port < 0 || end.port > 65535) {
    throw new RangeError(`PROXY header ${name} port ${end.port} is not 0-65535`);
  }
  return family;
}

/**
 * Builds a PROXY protocol header for a TCP connection from `source` to
 * `destination`. Version 1 is `PROXY TCP4|TCP6 src dst sport dport\r\n`
 * (section 2.1); version 2 is the signature, `0x21` (version 2, command
 * PROXY), `0x11` or `0x21` (TCP over IPv4 or IPv6), the length, the two
 * addresses and the two ports in network order (section 2.2). Different
 * address families on the two ends are a `RangeError`.
 *
 * @example A v1 header
 * ```ts
 * import { proxyHeader } from "./proxy_header.ts";
 * const header = proxyHeader({
 *   version: 1,
 *   source: { address: "192.0.2.1", port: 56324 },
 *   destination: { address: "192.0.2.2", port: 443 },
 * });
 * console.log(new TextDecoder().decode(header)); // PROXY TCP4 192.0.2.1 192.0.2.2 56324 443\r\n
 * ```
 */
export function proxyHeader(options: ProxyHeaderOptions): Uint8Array {
  const { version, source, destination } = options;
  const family = checkEndpoint("source", source);
  if (checkEndpoint("destination", destination) !== family) {
    throw new RangeError(
      `PROXY header source "${source.address}" and destination "${destination.address}" ` +
        "are of different address families",
    );
  }
  if (version === 1) {
    const plain = (ip: string) => ip.replace(/%.*$/, "");
    return new TextEncoder().encode(
      `PROXY TCP${family} ${plain(source.address)} ${plain(destination.address)} ` +
        `${source.port} ${destination.port}\r\n`,
    );
  }
  const addressLength = family === 4 ? 4 : 16;
  const length = addressLength * 2 + 4;
  const out = new Uint8Array(16 + length);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x21;
  out[13] = family === 4 ? 0x11 : 0x21;
  new DataView(out.buffer).setUint16(14, length);
  out.set(ipBytes(source.address), 16);
  out.set(ipBytes(destination.address), 16 + addressLength);
  const view = new DataView(out.buffer);
  view.setUint16(16 + addressLength * 2, source.port);
  view.setUint16(18 + addressLength * 2, destination.port);
  return out;
}

/** Options of {@linkcode proxyHeaderLayer}. */
export interface ProxyHeaderLayerOptions {
  /** 1: text; 2: binary. */
  version: 1 | 2;
  /** The source to announce. @default {conn.localAddress} */
  source?: ProxyHeaderEndpoint;
  /**
   * The destination to announce. Through a proxy tunnel `conn.remoteAddress`
   * is the proxy; pass the target here if that is what the server should see.
   * @default {conn.remoteAddress}
   */
  destination?: ProxyHeaderEndpoint;
  /** Aborting closes the connection and rejects with `signal.reason`. @default {undefined} */
  signal?: AbortSignal;
}

/** `ip:port` or `[ip]:port` as an endpoint. */
function endpointOf(text: string): ProxyHeaderEndpoint {
  const match = /^\[(.*)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new RangeError(`not an ip:port address: "${text}"`);
  }
  return { address: match[1], port: Number(match[2]) };
}

/**
 * Writes a PROXY protocol header on `conn`, built from its local and remote
 * addresses, and returns the same conn. On failure or abort the conn is
 * closed; an abort rejects with `signal.reason`.
 *
 * @example Announce our real address to a backend behind HAProxy
 * ```ts
 * import { proxyHeaderLayer } from "./proxy_header.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 8443 }));
 * await proxyHeaderLayer(conn, { version: 2, signal: AbortSignal.timeout(2000) });
 * conn.close();
 * ```
 */
export async function proxyHeaderLayer(
  conn: Conn,
  options: ProxyHeaderLayerOptions,
): Promise<Conn> {
  const { signal } = options;
  const header = proxyHeader({
    version: options.version,
    source: options.source ?? endpointOf(conn.localAddress),
    destination: options.destination ?? endpointOf(conn.remoteAddress),
  });
  if (signal?.aborted) {
    conn.close();
    throw signal.reason;
  }
  const onAbort = () => conn.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await conn.write(header);
    return conn;
  } catch (err) {
    conn.close();
    if (signal?.aborted) throw signal.reason;
    throw toNetError(err, { op: "write", address: conn.remoteAddress });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * One TCP connect to one IP address: the step under every dial, kept small
 * because it is all the readiness loop (and a probe worker) loads. Deno's own
 * connect is the fast path; binding a source address or port needs node:net,
 * which is loaded only then (lib/net/node_connect.ts).
 *
 * @module
 */

import { NetError } from "../errors.ts";
import { joinHostPort } from "./address.ts";
import type { Conn } from "./conn.ts";
import { TcpConn } from "./tcp_conn.ts";

/** The local end to bind (nc `-s` / `-p`). */
export interface SourceOptions {
  /** Source IP address. @default {undefined} (the kernel chooses) */
  address?: string;
  /** Source port. @default {undefined} (an ephemeral port) */
  port?: number;
}

/** Options of {@linkcode connectTcp}: one TCP connect to one address. */
export interface ConnectTcpOptions {
  /** Aborts the connect; it rejects with the signal's reason. @default {undefined} */
  signal?: AbortSignal;
  /** Disable Nagle's algorithm. @default {false} */
  noDelay?: boolean;
  /** Enable TCP keepalive. @default {false} */
  keepAlive?: boolean;
  /** Bind the local end (uses node:net). @default {undefined} */
  source?: SourceOptions;
}

/**
 * How often a self-connect is retried before it is reported: the kernel chose
 * the destination port as our source port and TCP's simultaneous open
 * (RFC 793 section 3.4) connected the socket to itself. Nothing listens there.
 */
const SELF_CONNECT_RETRIES = 3;

function isSelf(conn: Conn): boolean {
  return conn.localAddress === conn.remoteAddress;
}

/**
 * One TCP connect to one IP address. Retries a self-connect (see
 * {@linkcode SELF_CONNECT_RETRIES}) and then reports it as refused, never as
 * open. Raw errors are thrown as they are (the caller classifies).
 *
 * @example
 * ```ts
 * import { connectTcp } from "./tcp_connect.ts";
 * const conn = await connectTcp("127.0.0.1", 7, { signal: AbortSignal.timeout(2000) });
 * conn.close();
 * ```
 */
export function connectTcp(
  address: string,
  port: number,
  options: ConnectTcpOptions = {},
): Promise<Conn> {
  if (options.source !== undefined) return connectLoop(address, port, options, 0);
  // The common case, one promise and no async frame (a sweep makes 65,535 of
  // these): errors pass through untouched, a self-connect goes to the loop.
  const connect = options.signal
    ? Deno.connect({ hostname: address, port, transport: "tcp", signal: options.signal })
    : Deno.connect({ hostname: address, port, transport: "tcp" });
  return connect.then((raw) => {
    const conn = wrap(raw, options);
    if (!isSelf(conn)) return conn;
    conn.close();
    return connectLoop(address, port, options, 1);
  });
}

function selfConnectError(address: string, port: number): NetError {
  return new NetError(
    "refused",
    "connected to itself: nothing listens there (the kernel chose the destination port as the source port)",
    { op: "connect", address: joinHostPort(address, port) },
  );
}

/** Attempts from `first` on: the source-bound path, and the retries after a self-connect. */
async function connectLoop(
  address: string,
  port: number,
  options: ConnectTcpOptions,
  first: number,
): Promise<Conn> {
  for (let attempt = first;; attempt++) {
    let conn: Conn;
    try {
      conn = options.source === undefined
        ? await connectDeno(address, port, options)
        : await (await import("./node_connect.ts")).connectNode(address, port, options);
    } catch (err) {
      // After a self-connect the only free source port may still be taken.
      if (attempt > 0 && !options.signal?.aborted) throw selfConnectError(address, port);
      throw err;
    }
    if (!isSelf(conn)) return conn;
    conn.close();
    if (attempt + 1 >= SELF_CONNECT_RETRIES || options.source?.port !== undefined) {
      throw selfConnectError(address, port);
    }
  }
}

function connectDeno(
  address: string,
  port: number,
  options: ConnectTcpOptions,
): Promise<Conn> {
  const connect = options.signal
    ? Deno.connect({ hostname: address, port, transport: "tcp", signal: options.signal })
    : Deno.connect({ hostname: address, port, transport: "tcp" });
  return connect.then((raw) => wrap(raw, options));
}

function wrap(raw: Deno.TcpConn, options: ConnectTcpOptions): Conn {
  if (options.noDelay) raw.setNoDelay(true);
  if (options.keepAlive) raw.setKeepAlive(true);
  return new TcpConn(raw);
}

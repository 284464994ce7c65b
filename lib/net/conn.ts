/**
 * The one connection interface every engine sees, whatever layers it went
 * through (plain TCP, a proxy tunnel, a PROXY header, TLS, a dialog), and the
 * record of what each layer learned. After Go's `net.Conn` plus
 * `tls.ConnectionState`.
 *
 * @module
 */

import type { ConnFacts } from "../facts.ts";

export type * from "../facts.ts";

/**
 * How a connection ended, one vocabulary for every engine:
 * - `eof`: the peer closed and we had nothing left to send;
 * - `local`: we closed on purpose (`-q` after EOF, `--max-bytes`, `-z`, the caller);
 * - `timeout`: one of its deadlines fired (the error's `timer` says which);
 * - `error`: connect, read or write failed (reset, refused, broken pipe ...);
 * - `aborted`: the run was stopped (SIGINT, SIGTERM) or the engine stopped on a failure.
 */
export type CloseReason = "eof" | "local" | "timeout" | "error" | "aborted";

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

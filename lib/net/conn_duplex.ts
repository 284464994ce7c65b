/**
 * Any {@linkcode Conn} as a `node:stream` Duplex, so that `node:tls` can run a
 * handshake over it (after a proxy tunnel or a STARTTLS dialog) and report the
 * peer's certificate, which Deno's own TLS API cannot.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import type { Conn } from "./conn.ts";
import { TcpConn } from "./tcp_conn.ts";

/** Bytes asked of the conn per read: a TLS record is at most 16 KiB plus overhead. */
const READ_SIZE = 64 * 1024;

/** Options of {@linkcode connDuplex}. */
export interface ConnDuplexOptions {
  /**
   * For a plain {@linkcode TcpConn}, wrap its `Deno.TcpConn` web streams with
   * `Duplex.fromWeb` instead of the generic read loop (measured faster; see
   * the README's TLS notes). @default {true}
   */
  fastPath?: boolean;
}

/**
 * Wraps `conn` as a Duplex: `_read` reads the conn into a fresh buffer,
 * `_write` writes all bytes, `end()` half-closes (`closeWrite`), `destroy()`
 * closes the conn.
 *
 * @example Upgrade a conn with node:tls
 * ```ts
 * import { connect } from "node:tls";
 * import { connDuplex } from "./conn_duplex.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 443 }));
 * const socket = connect({ socket: connDuplex(conn), servername: "localhost" });
 * socket.once("secureConnect", () => socket.end());
 * ```
 */
export function connDuplex(conn: Conn, options: ConnDuplexOptions = {}): Duplex {
  if ((options.fastPath ?? true) && conn instanceof TcpConn) return tcpDuplex(conn);
  return new ConnDuplex(conn);
}

/** The generic path: one read in flight at a time, restarted while the reader wants more. */
class ConnDuplex extends Duplex {
  readonly #conn: Conn;
  #reading = false;
  #wanted = false;

  constructor(conn: Conn) {
    // allowHalfOpen: the peer's EOF must not end our writing side (TLS close_notify
    // and half-closed sessions both rely on it).
    super({ allowHalfOpen: true });
    this.#conn = conn;
  }

  override _read(): void {
    // A _read while a pump runs is remembered, never dropped: node:stream calls
    // _read once and then waits for a push, so a lost call stalls the stream.
    this.#wanted = true;
    if (this.#reading) return;
    this.#reading = true;
    this.#pump().catch((err) => this.destroy(err instanceof Error ? err : new Error(String(err))));
  }

  async #pump(): Promise<void> {
    try {
      while (this.#wanted && !this.destroyed) {
        this.#wanted = false;
        const buffer = Buffer.allocUnsafe(READ_SIZE);
        const n = await this.#conn.read(buffer);
        if (n === null) {
          this.push(null);
          return;
        }
        // A small read would pin a 64 KiB buffer in the queue: copy it out instead.
        const chunk = n < READ_SIZE / 4
          ? Buffer.from(buffer.subarray(0, n))
          : buffer.subarray(0, n);
        if (this.push(chunk)) this.#wanted = true;
      }
    } finally {
      // Reset in the same turn as the loop's last check, so that no _read falls between.
      this.#reading = false;
    }
  }

  override _write(
    chunk: Uint8Array,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    this.#conn.write(chunk).then(() => callback(), (err) => callback(asError(err)));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#conn.closeWrite().then(() => callback(), (err) => callback(asError(err)));
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#conn.close();
    callback(error);
  }
}

/**
 * The fast path for plain TCP: Deno's own web streams of the socket, with
 * `closeWrite` on end (closing the web writable would close the whole socket)
 * and `close` on destroy.
 */
function tcpDuplex(conn: TcpConn): Duplex {
  const raw = conn.raw;
  const writable = new WritableStream<Uint8Array>({
    write: async (chunk) => {
      await conn.write(chunk);
    },
    close: () => conn.closeWrite(),
    abort: () => conn.close(),
  });
  const duplex = Duplex.fromWeb({ readable: raw.readable, writable }, { allowHalfOpen: true });
  duplex.once("close", () => conn.close());
  return duplex;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

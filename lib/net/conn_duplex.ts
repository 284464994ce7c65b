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

/**
 * Bytes asked of the conn per read. A loopback read gives up to a few hundred
 * KiB at once; bigger reads mean fewer trips through the stream machinery and
 * node:tls (64 KiB, 256 KiB and 1 MiB measured alike, see bench/RESULTS.md).
 */
const READ_SIZE = 256 * 1024;

/** Options of {@linkcode connDuplex}. */
export interface ConnDuplexOptions {
  /**
   * Reuse the read buffer when a chunk is consumed in the turn it is pushed
   * (a flowing stream with an empty queue hands it to its `data` listeners at
   * once). Only for a consumer whose `data` listeners copy what they get, as
   * node:tls does: it copies each chunk into the TLS engine. @default {false}
   */
  reuseBuffer?: boolean;
}

/**
 * Wraps `conn` as a Duplex: `_read` reads the conn (one read in flight),
 * `_write` writes all bytes, `end()` half-closes (`closeWrite`), `destroy()`
 * closes the conn.
 *
 * A read loop over `conn.read`, for every kind of conn: for a plain TCP conn
 * it costs less CPU than `Duplex.fromWeb` over the socket's web streams (the
 * path used before, see bench/RESULTS.md, figure 9).
 *
 * @example Upgrade a conn with node:tls
 * ```ts
 * import { connect } from "node:tls";
 * import { connDuplex } from "./conn_duplex.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 443 }));
 * const socket = connect({ socket: connDuplex(conn, { reuseBuffer: true }), servername: "localhost" });
 * socket.once("secureConnect", () => socket.end());
 * ```
 */
export function connDuplex(conn: Conn, options: ConnDuplexOptions = {}): Duplex {
  return new ConnDuplex(conn, options.reuseBuffer ?? false);
}

/** One read in flight at a time, restarted while the reader wants more. */
class ConnDuplex extends Duplex {
  readonly #conn: Conn;
  #reading = false;
  #wanted = false;
  readonly #reuse: boolean;
  /** The read buffer kept between pumps (free: its last chunk was consumed). */
  #spare: Buffer | null = null;

  constructor(conn: Conn, reuse: boolean) {
    // allowHalfOpen: the peer's EOF must not end our writing side (TLS close_notify
    // and half-closed sessions both rely on it).
    super({ allowHalfOpen: true });
    this.#conn = conn;
    this.#reuse = reuse;
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
    // One buffer serves read after read while each chunk is consumed in the
    // turn it is pushed (see #spare); otherwise every read gets a fresh one.
    let buffer: Buffer | null = this.#spare;
    this.#spare = null;
    try {
      while (this.#wanted && !this.destroyed) {
        this.#wanted = false;
        buffer ??= Buffer.allocUnsafe(READ_SIZE);
        const n = await this.#conn.read(buffer);
        if (n === null) {
          this.push(null);
          return;
        }
        // Flowing with an empty queue: push hands the chunk to the 'data'
        // listeners at once, and node:tls copies it into the TLS engine there,
        // so the buffer is free again after the push.
        const direct = this.#reuse && this.readableFlowing === true &&
          this.readableLength === 0 && this.listenerCount("data") > 0;
        // A small read that will be queued must not pin a whole read buffer.
        const chunk = !direct && n < READ_SIZE / 4
          ? Buffer.from(buffer.subarray(0, n))
          : buffer.subarray(0, n);
        const more = this.push(chunk);
        if (chunk.buffer === buffer.buffer && !(direct && this.readableLength === 0)) {
          buffer = null; // queued after all: it is the chunk's now
        }
        if (more) this.#wanted = true;
      }
    } finally {
      this.#spare = buffer;
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

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

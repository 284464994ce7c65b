/**
 * Plain TCP as a {@linkcode Conn}: a thin wrapper over `Deno.TcpConn` that
 * adds nothing to the read path (the bulk fast path) and loops partial writes.
 *
 * @module
 */

import { joinHostPort } from "./address.ts";
import { type Conn, type ConnFacts, emptyFacts } from "./conn.ts";

/**
 * A `Deno.TcpConn` as a {@linkcode Conn}.
 *
 * @example Wrap a connection made with Deno.connect
 * ```ts
 * import { TcpConn } from "./tcp_conn.ts";
 * const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 7 }));
 * await conn.write(new TextEncoder().encode("hi\n"));
 * conn.close();
 * ```
 */
export class TcpConn implements Conn {
  /** The socket underneath (for setNoDelay/setKeepAlive; do not read or write it). */
  readonly raw: Deno.TcpConn;
  /** What the layers learned. */
  readonly facts: ConnFacts;
  #closed = false;
  #local: string | undefined;
  #remote: string | undefined;

  /** Wraps `raw`; `facts` default to empty ones. */
  constructor(raw: Deno.TcpConn, facts: ConnFacts = emptyFacts()) {
    this.raw = raw;
    this.facts = facts;
  }

  /** Reads into `buffer`, straight from the socket. */
  read(buffer: Uint8Array): Promise<number | null> {
    return this.raw.read(buffer);
  }

  /** Writes all of `data`. */
  write(data: Uint8Array): Promise<number> {
    // One write usually takes everything: no async frame for the common case.
    return this.raw.write(data).then((n) => n >= data.length ? n : this.#writeRest(data, n));
  }

  async #writeRest(data: Uint8Array, offset: number): Promise<number> {
    while (offset < data.length) offset += await this.raw.write(data.subarray(offset));
    return data.length;
  }

  /** shutdown(SHUT_WR). */
  closeWrite(): Promise<void> {
    return this.raw.closeWrite();
  }

  /** Closes once; later calls do nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.raw.close();
    } catch { /* already closed (e.g. read to EOF through .readable) */ }
  }

  /** Our `ip:port`. */
  get localAddress(): string {
    return this.#local ??= addrText(this.raw.localAddr);
  }

  /** The peer's `ip:port`. */
  get remoteAddress(): string {
    return this.#remote ??= addrText(this.raw.remoteAddr);
  }
}

function addrText(addr: Deno.NetAddr): string {
  return joinHostPort(addr.hostname, addr.port);
}

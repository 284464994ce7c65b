/**
 * A `node:net` or `node:tls` socket as a {@linkcode Conn}. Used where Deno's
 * own API cannot do the job: binding a source address (`localAddress`,
 * `localPort`) and TLS with the peer's certificate (`node:tls`).
 *
 * The socket's `data` events fill a small queue that `read()` drains into the
 * caller's buffer; the socket is paused while the queue holds more than
 * {@linkcode QUEUE_HIGH_WATER} bytes (that is the backpressure).
 *
 * @module
 */

import type { Socket } from "node:net";
import { joinHostPort } from "./address.ts";
import { type Conn, type ConnFacts, emptyFacts } from "./conn.ts";

/** Bytes queued from the socket before it is paused. */
export const QUEUE_HIGH_WATER = 1 << 20;

/**
 * A node socket as a {@linkcode Conn}. The socket must be connected (or, for
 * TLS, past its handshake) when wrapped.
 *
 * @example Bind a source address with node:net, then use it as a Conn
 * ```ts
 * import { connect } from "node:net";
 * import { once } from "node:events";
 * import { NodeConn } from "./node_conn.ts";
 * const socket = connect({ host: "127.0.0.1", port: 7, localAddress: "127.0.0.2" });
 * await once(socket, "connect");
 * const conn = new NodeConn(socket);
 * console.log(conn.localAddress); // 127.0.0.2:...
 * conn.close();
 * ```
 */
export class NodeConn implements Conn {
  /** The socket underneath. */
  readonly socket: Socket;
  /** What the layers learned. */
  readonly facts: ConnFacts;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | null = null;
  #closed = false;
  #waiter: (() => void) | null = null;
  #local: string;
  #remote: string;

  /**
   * Wraps a connected socket; `facts` default to empty ones. A socket over a
   * stream (TLS on another Conn) has no addresses of its own: pass `below`,
   * the Conn underneath, to report its addresses.
   */
  constructor(socket: Socket, facts: ConnFacts = emptyFacts(), below?: Conn) {
    this.socket = socket;
    this.facts = facts;
    this.#local = below?.localAddress ??
      joinHostPort(socket.localAddress ?? "", socket.localPort ?? 0);
    this.#remote = below?.remoteAddress ??
      joinHostPort(socket.remoteAddress ?? "", socket.remotePort ?? 0);
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > QUEUE_HIGH_WATER) this.pauseInput();
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (err: Error) => {
      this.#error ??= err;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /** Reads what is queued into `buffer`, waiting for data, EOF or an error. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#closed) throw new Deno.errors.Interrupted("the connection was closed");
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#waiter = resolve);
    }
    let n = 0;
    while (n < buffer.length && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const take = Math.min(head.length, buffer.length - n);
      buffer.set(head.subarray(0, take), n);
      n += take;
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= n;
    if (this.#queued <= QUEUE_HIGH_WATER / 2 && this.inputPaused()) this.resumeInput();
    return n;
  }

  /**
   * Stops the bytes coming while the queue is over {@linkcode QUEUE_HIGH_WATER}.
   * A subclass may pause something underneath instead (see tls.ts: Deno's
   * node:tls loses the EOF that arrives while the TLS socket is paused).
   */
  protected pauseInput(): void {
    this.socket.pause();
  }

  /** Undoes {@linkcode NodeConn.pauseInput}. */
  protected resumeInput(): void {
    this.socket.resume();
  }

  /** Whether {@linkcode NodeConn.pauseInput} holds the bytes back now. */
  protected inputPaused(): boolean {
    return this.socket.isPaused();
  }

  /** Writes all of `data`; resolves once the socket took it. */
  write(data: Uint8Array): Promise<number> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("closed"));
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => err ? reject(err) : resolve(data.length));
    });
  }

  /** Half-closes (a FIN; for TLS, close_notify then FIN). */
  closeWrite(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#error !== null) return reject(this.#error);
      this.socket.end(() => resolve());
    });
  }

  /** Destroys the socket once; pending reads reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    this.#wake();
  }

  /** Our `ip:port`. */
  get localAddress(): string {
    return this.#local;
  }

  /** The peer's `ip:port`. */
  get remoteAddress(): string {
    return this.#remote;
  }
}

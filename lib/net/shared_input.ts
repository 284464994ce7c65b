/**
 * One input (stdin) shared by sessions that run one after another, as
 * `tcpc listen -k` serves clients: each byte is read once and goes to the
 * session that asked for it; bytes that arrive after their session ended wait
 * for the next one.
 *
 * @module
 */

import type { ByteReader } from "../stream.ts";

/** Options of {@linkcode SharedInput}. */
export interface SharedInputOptions {
  /** Size of each read from the source, bytes. @default {262144} */
  chunkSize?: number;
}

/** A session's view of a {@linkcode SharedInput}: reads until it is released. */
export interface InputLease extends ByteReader, Disposable {
  /** Ends this view: a pending read resolves to null (EOF); unread bytes stay for the next lease. */
  release(): void;
}

/**
 * Hands a source to one session at a time. A session's read may still be in
 * flight when the session ends (stdin cannot be cancelled): that read is
 * completed by the shared reader, its bytes kept for the next lease, and the
 * ended session sees EOF. The source is read only while a lease asks.
 *
 * @example Two sessions in turn over stdin
 * ```ts
 * import { SharedInput } from "./shared_input.ts";
 * const input = new SharedInput(Deno.stdin);
 * {
 *   using first = input.lease();
 *   const buffer = new Uint8Array(1024);
 *   console.log(await first.read(buffer));
 * }
 * using second = input.lease();
 * console.log(input.ended);
 * ```
 */
export class SharedInput {
  readonly #source: ByteReader;
  readonly #buffer: Uint8Array;
  /** Bytes read from the source but not yet handed out (a view of #buffer). */
  #held: Uint8Array | null = null;
  /** The source read in flight, shared by every waiting lease. */
  #pending: Promise<void> | null = null;
  #ended = false;

  /** Shares `source`. */
  constructor(source: ByteReader, options: SharedInputOptions = {}) {
    this.#source = source;
    this.#buffer = new Uint8Array(options.chunkSize ?? 1 << 18);
  }

  /** True once the source reached EOF and every byte was handed out. */
  get ended(): boolean {
    return this.#ended && this.#held === null;
  }

  /** A reader for one session; release it (or `using`) when the session ends. */
  lease(): InputLease {
    let released = false;
    const take = (buffer: Uint8Array): number => {
      const held = this.#held as Uint8Array;
      const n = Math.min(buffer.length, held.length);
      buffer.set(held.subarray(0, n));
      this.#held = n === held.length ? null : held.subarray(n);
      return n;
    };
    return {
      read: async (buffer: Uint8Array): Promise<number | null> => {
        if (released) return null;
        if (this.#held !== null) return take(buffer);
        if (this.#ended) return null;
        // Only one source read at a time, into our own buffer: a new read is
        // issued only after everything held was handed out.
        this.#pending ??= this.#source.read(this.#buffer).then((n) => {
          if (n === null) this.#ended = true;
          else if (n > 0) this.#held = this.#buffer.subarray(0, n);
        }).finally(() => this.#pending = null);
        await this.#pending;
        if (released) return null;
        if (this.#held !== null) return take(buffer);
        return this.#ended ? null : 0;
      },
      release: () => released = true,
      [Symbol.dispose]: () => released = true,
    };
  }
}

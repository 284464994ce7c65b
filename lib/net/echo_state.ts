/**
 * What one `tcpc echo` connection sends and how its replies are checked, with
 * no I/O: the driver asks for the next bytes to write, hands over every chunk
 * read, and acts on what comes back (a finished reply, a mismatch, leftovers).
 *
 * Framing: the reply to a message is complete when as many bytes came back as
 * the expected reply holds (the message itself for echo, the `--expect` bytes
 * otherwise). Replies are checked byte by byte as they arrive, so a mismatch
 * is found at its first differing byte even in a partial reply.
 *
 * @module
 */

/** Options of {@linkcode EchoState}. */
export interface EchoStateOptions {
  /** The messages to send, used in turn (message k is `messages[k % length]`). */
  messages: Uint8Array[];
  /**
   * The reply expected for every message; unset: each reply must equal its
   * message (echo). @default {undefined}
   */
  expect?: Uint8Array;
  /** Messages to send in all; `Infinity` until {@linkcode EchoState.stop}. @default {messages.length} */
  count?: number;
  /** Messages in flight (sent, reply not complete) at most. @default {1} */
  pipeline?: number;
  /**
   * Where each reply's round trip goes: given, {@linkcode EchoState.receive}
   * records RTTs here and returns them nowhere (its `rttsMs` stays empty), so
   * a reply allocates nothing (the hot path of a run). @default {undefined}
   */
  rtt?: RttSink;
}

/**
 * Takes round-trip times (lib/report/histogram.ts `Histogram` fits).
 *
 * @example Record RTTs into a histogram
 * ```ts
 * import { EchoState, type RttSink } from "./echo_state.ts";
 * import { Histogram } from "../report/histogram.ts";
 * const rtt: RttSink = new Histogram();
 * const state = new EchoState({ messages: [new Uint8Array([1])], rtt });
 * ```
 */
export interface RttSink {
  /** Records one round trip, ms. */
  recordMs(valueMs: number): void;
}

/** A reply that differs from what was expected. */
export interface Mismatch {
  /** The message whose reply differs, counted from 1. */
  message: number;
  /** Offset of the first differing byte inside that reply, from 0. */
  offset: number;
  /** The byte that was expected. */
  expected: number;
  /** The byte that came. */
  got: number;
}

/** What one received chunk did. */
export interface ReceiveResult {
  /** Round-trip times of the replies the chunk completed, ms, in message order. */
  rttsMs: number[];
  /** The first mismatch; the rest of the chunk was not examined. */
  mismatch: Mismatch | null;
  /** Bytes that arrived while no reply was awaited (after the last message, or unasked). */
  unexpected: number;
}

const EMPTY: number[] = [];
/** The result of a chunk that completed no reply, or whose RTTs went to the sink: shared, frozen. */
const CLEAN: ReceiveResult = Object.freeze({ rttsMs: EMPTY, mismatch: null, unexpected: 0 });

/** Replies parts of at least this many bytes are compared 4 bytes at a time. */
const WORDS_FROM = 16;

/** A 32-bit view over the whole buffer under `bytes` (no copy; the tail past a multiple of 4 left out). */
function wordsOf(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.buffer, 0, bytes.buffer.byteLength >>> 2);
}

/** Most bytes {@linkcode EchoState.takeBatch} copies into one batch. */
const MAX_BATCH_BYTES = 1 << 20;

/**
 * The per-connection state of an echo run: a window of at most `pipeline`
 * messages in flight, send times in a ring, and a cursor into the expected
 * reply stream.
 *
 * @example Check one echo round trip
 * ```ts
 * import { EchoState } from "./echo_state.ts";
 * const hello = new TextEncoder().encode("hello\n");
 * const state = new EchoState({ messages: [hello] });
 * const out = state.takeBatch(0); // the bytes to write: "hello\n"
 * console.log(out?.length); // 6
 * const result = state.receive(hello, 0.25);
 * console.log(result.rttsMs, state.done); // [0.25] true
 * ```
 */
export class EchoState {
  readonly #messages: Uint8Array[];
  readonly #expect: Uint8Array | undefined;
  readonly #pipeline: number;
  readonly #sentAt: Float64Array;
  readonly #rtt: RttSink | undefined;
  /** 32-bit word views over each message's buffer, and over `expect`'s (the reply compare). */
  readonly #messageWords: Uint32Array[];
  readonly #expectWords: Uint32Array | undefined;
  /** The buffer of the last chunk received (the loop reuses one) and a word view over it. */
  #chunkBuffer: ArrayBufferLike | null = null;
  #chunkWords: Uint32Array | null = null;
  #count: number;
  /** Messages handed out for writing. */
  #sent = 0;
  /** Replies complete. */
  #replied = 0;
  /** Bytes of the current reply seen so far. */
  #offset = 0;
  /** When the previous reply completed (or the first send), for the per-reply timer. */
  #lastReplyAt = 0;
  /** Bytes received while no reply was awaited. */
  #leftover = 0;
  /** Total bytes handed out for writing and received. */
  #bytesSent = 0;
  #bytesReceived = 0;

  /** Builds the state; `messages` must not be empty, nor any message nor `expect` empty. */
  constructor(options: EchoStateOptions) {
    if (options.messages.length === 0) throw new RangeError("no messages to send");
    if (options.messages.some((m) => m.length === 0) || options.expect?.length === 0) {
      throw new RangeError("empty message or expected reply: a reply could never be recognised");
    }
    this.#messages = options.messages;
    this.#expect = options.expect;
    this.#count = options.count ?? options.messages.length;
    this.#pipeline = Math.max(1, options.pipeline ?? 1);
    this.#sentAt = new Float64Array(this.#pipeline);
    this.#rtt = options.rtt;
    this.#messageWords = options.messages.map(wordsOf);
    this.#expectWords = options.expect === undefined ? undefined : wordsOf(options.expect);
  }

  /** Messages handed out for writing so far. */
  get sent(): number {
    return this.#sent;
  }

  /** Replies complete and correct so far. */
  get replied(): number {
    return this.#replied;
  }

  /** Bytes handed out for writing so far. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** Bytes received so far, leftovers included. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Bytes received after the last reply, or while nothing was asked. */
  get leftover(): number {
    return this.#leftover;
  }

  /** True when every message was sent and every reply came back complete. */
  get done(): boolean {
    return this.#replied >= this.#count;
  }

  /** True while a sent message still waits for (the rest of) its reply. */
  get awaiting(): boolean {
    return this.#replied < this.#sent;
  }

  /** True when {@linkcode EchoState.takeBatch} would hand out bytes now (the window has room). */
  get canSend(): boolean {
    return this.#sent - this.#replied < this.#pipeline && this.#sent < this.#count;
  }

  /** The message being awaited (counted from 1), for messages; the next one if none is. */
  get currentMessage(): number {
    return this.#replied + 1;
  }

  /**
   * Since when the awaited reply has been due: the later of its message's send
   * time and the completion of the reply before it (the per-reply timer runs
   * from here). NaN when nothing is awaited.
   */
  get awaitingSince(): number {
    if (!this.awaiting) return NaN;
    const sentAt = this.#sentAt[this.#replied % this.#pipeline] ?? 0;
    return Math.max(sentAt, this.#lastReplyAt);
  }

  /** No new messages after this (the `--duration` is over); awaited replies still count. */
  stop(): void {
    this.#count = Math.min(this.#count, this.#sent);
  }

  /**
   * The bytes to write now: the messages the window allows, concatenated up
   * to 1 MiB (one write per batch), stamped as sent at `now` (ms). Null when the window
   * is full or nothing is left to send. The returned buffer must not be
   * changed.
   */
  takeBatch(now: number): Uint8Array | null {
    const room = Math.min(this.#pipeline - (this.#sent - this.#replied), this.#count - this.#sent);
    if (room <= 0) return null;
    if (this.#sent === 0) this.#lastReplyAt = now;
    const first = this.#messageAt(this.#sent);
    if (room === 1) {
      this.#stamp(now);
      this.#bytesSent += first.length;
      return first;
    }
    // Concatenate at most MAX_BATCH_BYTES (a message larger than that goes out
    // alone, uncopied): the window is size x pipeline, up to 1 GiB, and must
    // never be built as one buffer. The rest of the window follows in the next
    // batches, one write each.
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let i = 0; i < room; i++) {
      const message = this.#messageAt(this.#sent);
      if (i > 0 && size + message.length > MAX_BATCH_BYTES) break;
      parts.push(message);
      size += message.length;
      this.#stamp(now);
    }
    if (parts.length === 1) {
      this.#bytesSent += size;
      return parts[0]!;
    }
    const batch = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      batch.set(part, at);
      at += part.length;
    }
    this.#bytesSent += size;
    return batch;
  }

  #messageAt(index: number): Uint8Array {
    return this.#messages[index % this.#messages.length] as Uint8Array;
  }

  #stamp(now: number): void {
    this.#sentAt[this.#sent % this.#pipeline] = now;
    this.#sent += 1;
  }

  /**
   * Checks a received chunk against the awaited replies, at time `now` (ms).
   * Stops at the first mismatch.
   */
  receive(chunk: Uint8Array, now: number): ReceiveResult {
    this.#bytesReceived += chunk.length;
    let rtts = EMPTY;
    let at = 0;
    while (at < chunk.length) {
      if (this.#replied >= this.#sent) {
        // Nothing is awaited: the peer sent more than was asked for.
        this.#leftover += chunk.length - at;
        return { rttsMs: rtts, mismatch: null, unexpected: chunk.length - at };
      }
      const expected = this.#expect ?? this.#messageAt(this.#replied);
      const offset = this.#offset;
      const take = Math.min(expected.length - offset, chunk.length - at);
      let i = 0;
      const chunkStart = chunk.byteOffset + at;
      const expectedStart = expected.byteOffset + offset;
      if (take >= WORDS_FROM && ((chunkStart | expectedStart) & 3) === 0) {
        // Both sides 4-byte aligned (the loop's read buffer and a message
        // array always start so): compare 32-bit words, a quarter of the
        // loads and compares. The byte loop below then finds the exact
        // differing byte inside a word that differs, and checks the tail.
        const words = this.#expectWords ??
          this.#messageWords[this.#replied % this.#messageWords.length]!;
        const buffer = chunk.buffer;
        if (buffer !== this.#chunkBuffer) {
          this.#chunkBuffer = buffer;
          this.#chunkWords = wordsOf(chunk);
        }
        const chunkWords = this.#chunkWords!;
        const c = chunkStart >>> 2;
        const e = expectedStart >>> 2;
        const n = take >>> 2;
        let w = 0;
        while (w < n && chunkWords[c + w] === words[e + w]) w++;
        i = w << 2;
      }
      // The hot loop of a run: locals only (no private field read per byte).
      for (; i < take; i++) {
        if (chunk[at + i] !== expected[offset + i]) {
          return {
            rttsMs: rtts,
            mismatch: {
              message: this.#replied + 1,
              offset: offset + i,
              expected: expected[offset + i] ?? 0,
              got: chunk[at + i] ?? 0,
            },
            unexpected: 0,
          };
        }
      }
      at += take;
      this.#offset = offset + take;
      if (this.#offset === expected.length) {
        const rtt = now - (this.#sentAt[this.#replied % this.#pipeline] ?? now);
        if (this.#rtt !== undefined) this.#rtt.recordMs(rtt);
        else if (rtts === EMPTY) rtts = [rtt];
        else rtts.push(rtt);
        this.#replied += 1;
        this.#offset = 0;
        this.#lastReplyAt = now;
      }
    }
    return rtts === EMPTY ? CLEAN : { rttsMs: rtts, mismatch: null, unexpected: 0 };
  }
}

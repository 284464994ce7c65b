/**
 * Fast standard input and output for the session pump that never stall the
 * event loop (timers, signals and the other direction keep running).
 *
 * The choice depends on what the stream is (fstat(2) and isatty(3)):
 *  - a regular file, or a memory device such as `/dev/null` or `/dev/zero`:
 *    synchronous reads and writes. They never wait on another process, so they
 *    cannot block the loop for long, and they skip the thread hop of an async op.
 *  - a terminal: plain async reads and writes, one at a time (speed does not
 *    matter there, and output keeps its order with the diagnostics on stderr).
 *  - a pipe, a socket, or anything else: output goes through a coalescing
 *    writer (copy, return, one large async write in flight); input is read
 *    ahead with one async read in flight, and once more than
 *    `threadAfterBytes` came in, a worker thread takes over with blocking reads
 *    into a shared ring buffer that the loop drains with `Atomics.waitAsync`.
 *
 * Measured on 2 cores (bench/RESULTS.md): an async `Deno.stdin.read` costs
 * ~80 us per 64 KiB pipe read, which the read-ahead hides behind the socket
 * write; the worker removes the thread hop altogether. The mirror image for
 * stdout (a worker doing blocking writes out of a shared ring) and lending the
 * stdin ring to the socket write (no copy) were measured and did not win over
 * this (bench/RESULTS.md, "What we tried"). Read-ahead means bytes
 * read from stdin but not yet sent are dropped when the session ends early,
 * as with netcat's buffer.
 *
 * @module
 */

import type { ByteReader, ByteWriter, FlushableWriter } from "../stream.ts";

export type { FlushableWriter } from "../stream.ts";

/** What a standard stream is connected to. */
export type StreamKind = "file" | "device" | "terminal" | "pipe" | "socket" | "unknown";

/** Linux's "mem" character devices (major 1: null, zero, full, random, urandom) never block. */
const MEM_MAJOR = 1;

/**
 * Tells what file descriptor 0, 1 or 2 is connected to. Never throws:
 * a stream that cannot be inspected is `"unknown"`. `node:fs` (for fstat) is
 * imported on first use: it adds ~20 ms to start-up, which runs that never
 * touch stdin or stdout (`tcpc -z`) should not pay.
 *
 * @example Choose a strategy for stdout
 * ```ts
 * import { streamKind } from "./stdio.ts";
 * if (await streamKind(1) === "terminal") console.log("a person is watching");
 * ```
 */
export async function streamKind(fd: 0 | 1 | 2): Promise<StreamKind> {
  const stream = fd === 0 ? Deno.stdin : fd === 1 ? Deno.stdout : Deno.stderr;
  try {
    if (stream.isTerminal()) return "terminal";
    const { fstatSync } = await import("node:fs");
    const stat = fstatSync(fd);
    if (stat.isFile() || stat.isBlockDevice()) return "file";
    if (stat.isFIFO()) return "pipe";
    if (stat.isSocket()) return "socket";
    if (stat.isCharacterDevice()) {
      return ((Number(stat.rdev) >> 8) & 0xfff) === MEM_MAJOR ? "device" : "unknown";
    }
    return "unknown";
  } catch {
    return "unknown";
  }
}

/** Options of {@linkcode bufferedWriter}. */
export interface BufferedWriterOptions {
  /** Size of each of the two buffers, bytes; also the largest single write. @default {1048576} */
  bufferBytes?: number;
}

/**
 * Wraps a sink so that `write` copies and returns at once while one write to
 * the sink is in flight; bytes that arrive meanwhile are coalesced into the
 * next, larger write. Backpressure: `write` waits when both buffers are full.
 * A sink error is thrown by the next `write` or `flush`.
 *
 * @example Coalesce small writes to stdout
 * ```ts
 * import { bufferedWriter } from "./stdio.ts";
 * const out = bufferedWriter({ write: (data) => Deno.stdout.write(data) });
 * await out.write(new TextEncoder().encode("hello "));
 * await out.write(new TextEncoder().encode("world\n"));
 * await out.flush();
 * ```
 */
export function bufferedWriter(
  sink: ByteWriter,
  options: BufferedWriterOptions = {},
): FlushableWriter {
  const size = options.bufferBytes ?? 1 << 20;
  let fill = new Uint8Array(size);
  let spare = new Uint8Array(size);
  let filled = 0;
  let inFlight: Promise<void> | null = null;
  let inFlightBytes = 0;
  let failure: { error: unknown } | null = null;

  const writeAll = async (data: Uint8Array) => {
    let offset = 0;
    while (offset < data.length) offset += await sink.write(data.subarray(offset));
  };
  /** Starts writing the fill buffer unless a write is in flight; chains the next one. */
  const start = () => {
    if (inFlight !== null || filled === 0 || failure !== null) return;
    [fill, spare] = [spare, fill];
    const out = spare.subarray(0, filled);
    filled = 0;
    inFlightBytes = out.length;
    inFlight = writeAll(out).then(
      () => {
        inFlight = null;
        inFlightBytes = 0;
        start();
      },
      (error) => {
        inFlight = null;
        failure = { error };
      },
    );
  };

  return {
    async write(data) {
      let offset = 0;
      while (offset < data.length) {
        if (failure !== null) throw failure.error;
        const room = size - filled;
        if (room === 0) {
          await inFlight;
          continue;
        }
        const count = Math.min(room, data.length - offset);
        fill.set(data.subarray(offset, offset + count), filled);
        filled += count;
        offset += count;
        start();
      }
      if (failure !== null) throw failure.error;
      return data.length;
    },
    async flush(signal) {
      let onAbort = () => {};
      const aborted = new Promise<void>((resolve) => onAbort = resolve);
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        while (inFlight !== null && !signal?.aborted) await Promise.race([inFlight, aborted]);
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
      if (failure !== null) throw failure.error;
    },
    pending: () => filled + inFlightBytes,
  };
}

/** Options of {@linkcode stdoutWriter}. */
export interface StdoutWriterOptions {
  /** What stdout is; detected when unset. @default {undefined} */
  kind?: StreamKind;
  /** Buffer size for pipes and sockets, bytes. @default {1048576} */
  bufferBytes?: number;
  /**
   * When `kind` is unset and stdout is not a terminal: the first this many
   * bytes go through the pipe writer (right for any stream) and only then is
   * stdout inspected, so that short outputs (`--version`, a probe table)
   * never load `node:fs` for fstat(2) (~15-20 ms of start-up). @default {262144}
   */
  inspectAfterBytes?: number;
}

/**
 * The fastest safe writer for this process's stdout (see the module notes).
 * Call `flush()` before the process exits.
 *
 * @example Write received bytes, then flush
 * ```ts
 * import { stdoutWriter } from "./stdio.ts";
 * const out = stdoutWriter();
 * await out.write(new TextEncoder().encode("data\n"));
 * await out.flush();
 * ```
 */
export function stdoutWriter(options: StdoutWriterOptions = {}): FlushableWriter {
  let chosen: FlushableWriter | null = null;
  let choosing: Promise<FlushableWriter> | null = null;
  const choose = () =>
    choosing ??= (options.kind !== undefined ? Promise.resolve(options.kind) : streamKind(1))
      .then((kind) => chosen = pickWriter(kind, options));
  if (options.kind !== undefined || Deno.stdout.isTerminal()) {
    return {
      write: async (data) => (chosen ?? await choose()).write(data),
      flush: async (signal) => {
        if (choosing !== null) await (await choosing).flush(signal);
      },
      pending: () => chosen?.pending() ?? 0,
    };
  }
  // Not a terminal: start with the pipe writer, which is correct for a file or
  // /dev/null too (only slower), and inspect stdout once the output is large
  // enough for writeSync to matter.
  let early: FlushableWriter | null = pickWriter("pipe", options);
  let earlyBytes = 0;
  const inspectAfter = options.inspectAfterBytes ?? 256 * 1024;
  /** Picks the writer for the rest once every early byte reached stdout, in order. */
  const switchOver = (writer: FlushableWriter) =>
    choosing ??= (async () => {
      const kind = await streamKind(1);
      const next = kind === "file" || kind === "device" ? pickWriter(kind, options) : writer;
      if (next !== writer) await writer.flush();
      early = null;
      return chosen = next;
    })();
  /** Writes waiting for the switch: later writes queue behind them, in order. */
  let waiting = 0;
  return {
    write: async (data) => {
      if (chosen !== null && waiting === 0) return await chosen.write(data);
      if (early !== null && choosing === null) {
        earlyBytes += data.length;
        if (earlyBytes <= inspectAfter) return await early.write(data);
        const writer = early;
        const count = await writer.write(data);
        await switchOver(writer);
        return count;
      }
      waiting++;
      try {
        return await (await choosing!).write(data);
      } finally {
        waiting--;
      }
    },
    flush: async (signal) => {
      if (chosen !== null) return await chosen.flush(signal);
      if (early !== null) await early.flush(signal);
      if (choosing !== null) await (await choosing).flush(signal);
    },
    // `early` is cleared only in the step that sets `chosen`.
    pending: () => (chosen ?? early!).pending(),
  };
}

function pickWriter(kind: StreamKind, options: StdoutWriterOptions): FlushableWriter {
  if (kind === "file" || kind === "device") {
    return {
      write: (data) => Promise.resolve().then(() => Deno.stdout.writeSync(data)),
      flush: () => Promise.resolve(),
      pending: () => 0,
    };
  }
  if (kind === "terminal") {
    let pending = 0;
    return {
      write: async (data) => {
        pending += data.length;
        try {
          return await Deno.stdout.write(data);
        } finally {
          pending -= data.length;
        }
      },
      flush: () => Promise.resolve(),
      pending: () => pending,
    };
  }
  const buffered: BufferedWriterOptions = {};
  if (options.bufferBytes !== undefined) buffered.bufferBytes = options.bufferBytes;
  return bufferedWriter({ write: (data) => Deno.stdout.write(data) }, buffered);
}

/** How stdin is being read: chosen at the first read, "thread" after the hand-over. */
export type ReaderMode = "undecided" | "sync" | "async" | "read-ahead" | "thread";

/** A reader that can stop its helper thread. */
export interface ClosableReader extends ByteReader {
  /** Stops reading ahead; a worker blocked in read(2) ends with the process. */
  close(): void;
  /** How it reads now (for -vv logs and tests). */
  mode(): ReaderMode;
}

/** Options of {@linkcode stdinReader}. */
export interface StdinReaderOptions {
  /** What stdin is; detected when unset. @default {undefined} */
  kind?: StreamKind;
  /**
   * For pipes and sockets: hand reading to a worker thread after this many
   * bytes (a worker costs ~30 ms to start, so short inputs never pay for one);
   * `Infinity` never starts one. @default {1048576}
   */
  threadAfterBytes?: number;
  /** The worker's ring buffer, bytes; a power of two. @default {1048576} */
  ringBytes?: number;
  /** Size of the read-ahead buffer before the worker takes over, bytes. @default {262144} */
  readAheadBytes?: number;
  /**
   * Called once the worker thread has started and can take over (tests use it
   * to send the rest of the input only then). @default {undefined}
   */
  onThreadReady?: () => void;
}

/**
 * The fastest reader for this process's stdin that never blocks the event
 * loop on a pipe or a terminal (see the module notes).
 *
 * @example Read stdin to the end
 * ```ts
 * import { stdinReader } from "./stdio.ts";
 * const input = stdinReader();
 * const buffer = new Uint8Array(65536);
 * let total = 0;
 * for (let n; (n = await input.read(buffer)) !== null;) total += n;
 * input.close();
 * console.log(total);
 * ```
 */
export function stdinReader(options: StdinReaderOptions = {}): ClosableReader {
  let chosen: ClosableReader | null = null;
  let choosing: Promise<ClosableReader> | null = null;
  let closed = false;
  const choose = () =>
    choosing ??= (options.kind !== undefined ? Promise.resolve(options.kind) : streamKind(0))
      .then((kind) => chosen = pickReader(kind, options));
  return {
    read: async (buffer) => (chosen ?? await choose()).read(buffer),
    close: () => {
      closed = true;
      chosen?.close();
      choosing?.then((reader) => closed && reader.close());
    },
    mode: () => chosen?.mode() ?? "undecided",
  };
}

function pickReader(kind: StreamKind, options: StdinReaderOptions): ClosableReader {
  if (kind === "file" || kind === "device") {
    return {
      read: (buffer) => Promise.resolve().then(() => Deno.stdin.readSync(buffer)),
      close() {},
      mode: () => "sync",
    };
  }
  if (kind === "terminal") {
    return { read: (buffer) => Deno.stdin.read(buffer), close() {}, mode: () => "async" };
  }
  return readAheadReader(options);
}

/**
 * The control block shared by the loop and the stdin worker: Int32 slot
 * offsets and the values they take. The worker gets a copy of this very
 * object in its source text (see {@linkcode fillRing}), so the two sides
 * cannot drift apart.
 *
 * @example Read how many bytes the worker has put in a ring
 * ```ts
 * import { RING_SLOTS } from "./stdio.ts";
 * const control = new Int32Array(new SharedArrayBuffer(8 * 4));
 * console.log(Atomics.load(control, RING_SLOTS.WRITTEN));
 * ```
 */
export const RING_SLOTS = {
  /** Slot: bytes the worker put in the ring, wrapping at 2^32. */
  WRITTEN: 0,
  /** Slot: bytes the loop took out, wrapping at 2^32. */
  CONSUMED: 1,
  /** Slot: 0 while running, then EOF or FAILED. */
  STATE: 2,
  /** Slot: bumped on every change the loop waits for. */
  SEQ: 3,
  /** Slot: 0 until the loop hands stdin over (RUN), STOP to end. */
  GO: 4,
  /**
   * Slot: 1 while the loop waits (or is about to wait) on SEQ. The worker
   * wakes the loop only then: a wake-up costs a futex, an eventfd write and an
   * epoll_wait, which a loop busy sending does not need.
   */
  LOOP_WAITING: 5,
  /** Slot: 1 while the worker waits (or is about to wait) on CONSUMED for room. */
  WORKER_WAITING: 6,
  /** STATE value: stdin ended. */
  EOF: 1,
  /** STATE value: the read failed (the error is posted). */
  FAILED: 2,
  /** GO value: the worker reads. */
  RUN: 1,
  /** GO value: the worker stops. */
  STOP: 2,
} as const;
const { WRITTEN, CONSUMED, STATE, SEQ, GO, LOOP_WAITING, WORKER_WAITING, EOF, FAILED, RUN, STOP } =
  RING_SLOTS;

/** Options of {@linkcode fillRing}. */
export interface FillRingOptions {
  /**
   * A blocking read into `buffer`: bytes read, or `null` at the end of the
   * input. @default {Deno.stdin.readSync}
   */
  read?: (buffer: Uint8Array) => number | null;
  /**
   * Blocks while `control[index]` is `value` (tests stand in for the other
   * thread with it). @default {Atomics.wait}
   */
  wait?: (control: Int32Array, index: number, value: number) => void;
  /** Called once, before waiting for the hand-over. @default {undefined} */
  onReady?: () => void;
  /** Called with a failed read's error, before STATE says FAILED. @default {undefined} */
  onError?: (error: Error) => void;
  /**
   * The control block's layout. The worker passes its JSON copy because its
   * source text cannot see this module's scope. @default {RING_SLOTS}
   */
  slots?: typeof RING_SLOTS;
}

/**
 * The stdin worker's body: waits until the loop sets GO to RUN (so that reads
 * stay in order behind the loop's last async read), then fills the ring with
 * blocking reads until the input ends, a read fails, or GO becomes STOP. It is
 * sent to the worker as source text, so it must use nothing from this module's
 * scope (the `??` defaults are only evaluated when an option is unset, which
 * the worker never leaves `slots`).
 *
 * @example Fill a ring from an array of chunks in this thread
 * ```ts
 * import { fillRing, RING_SLOTS } from "./stdio.ts";
 * const control = new Int32Array(new SharedArrayBuffer(8 * 4));
 * const ring = new Uint8Array(new SharedArrayBuffer(4096));
 * const chunks = [new Uint8Array([1, 2, 3])];
 * Atomics.store(control, RING_SLOTS.GO, RING_SLOTS.RUN);
 * fillRing(control, ring, {
 *   read: (buffer) => {
 *     const chunk = chunks.shift();
 *     if (chunk === undefined) return null;
 *     buffer.set(chunk);
 *     return chunk.length;
 *   },
 * });
 * console.log(Atomics.load(control, RING_SLOTS.WRITTEN)); // 3
 * ```
 */
export function fillRing(
  control: Int32Array,
  ring: Uint8Array,
  options: FillRingOptions = {},
): void {
  const slots = options.slots ?? RING_SLOTS;
  const read = options.read ?? ((buffer: Uint8Array) => Deno.stdin.readSync(buffer));
  const wait = options.wait ??
    ((array: Int32Array, index: number, value: number) => void Atomics.wait(array, index, value));
  const mask = ring.length - 1;
  // SEQ moves on every publish, but the loop is woken only while it waits.
  // Atomics are sequentially consistent: either the loop raised LOOP_WAITING
  // before our load of it (we notify), or after our SEQ bump, and then its
  // waitAsync on the old SEQ returns at once ("not-equal").
  const publish = () => {
    Atomics.add(control, slots.SEQ, 1);
    if (Atomics.load(control, slots.LOOP_WAITING) !== 0) Atomics.notify(control, slots.SEQ);
  };
  options.onReady?.();
  while (Atomics.load(control, slots.GO) === 0) wait(control, slots.GO, 0);
  let written = Atomics.load(control, slots.WRITTEN);
  while (Atomics.load(control, slots.GO) === slots.RUN) {
    const consumed = Atomics.load(control, slots.CONSUMED);
    const free = ring.length - ((written - consumed) | 0);
    if (free === 0) {
      // Same handshake as publish(), mirrored: the loop notifies CONSUMED only
      // while this flag is up.
      Atomics.store(control, slots.WORKER_WAITING, 1);
      if (Atomics.load(control, slots.CONSUMED) === consumed) {
        wait(control, slots.CONSUMED, consumed);
      }
      Atomics.store(control, slots.WORKER_WAITING, 0);
      continue;
    }
    const at = written & mask;
    let n: number | null;
    try {
      n = read(ring.subarray(at, at + Math.min(free, ring.length - at)));
    } catch (error) {
      options.onError?.(error as Error);
      Atomics.store(control, slots.STATE, slots.FAILED);
      publish();
      return;
    }
    if (n === null) {
      Atomics.store(control, slots.STATE, slots.EOF);
      publish();
      return;
    }
    written = (written + n) | 0;
    Atomics.store(control, slots.WRITTEN, written);
    publish();
  }
}

/** What the loop posts to start the worker. */
interface WorkerStart {
  control: SharedArrayBuffer;
  ring: SharedArrayBuffer;
}

/** The worker's source: {@linkcode fillRing} run on the posted buffers. */
const WORKER_SOURCE = `const fillRing = ${fillRing.toString()};
onmessage = (event) => {
  fillRing(new Int32Array(event.data.control), new Uint8Array(event.data.ring), {
    slots: ${JSON.stringify(RING_SLOTS)},
    onReady: () => postMessage("ready"),
    onError: (error) => postMessage({ name: error.name, message: error.message }),
  });
  close();
};`;

function readAheadReader(options: StdinReaderOptions): ClosableReader {
  const threadAfter = options.threadAfterBytes ?? 1 << 20;
  const ringBytes = options.ringBytes ?? 1 << 20;
  if (ringBytes < 4096 || (ringBytes & (ringBytes - 1)) !== 0) {
    throw new RangeError(`invalid ringBytes ${ringBytes}: must be a power of two >= 4096`);
  }
  const aheadBytes = options.readAheadBytes ?? 1 << 18;

  // --- phase 1: async reads, one in flight ahead of the consumer ---
  let ahead: Uint8Array = new Uint8Array(aheadBytes);
  let spare: Uint8Array = new Uint8Array(aheadBytes);
  let pending: Promise<number | null> | null = null;
  let leftover: Uint8Array = new Uint8Array(0);
  let total = 0;
  let ended = false;
  /** Sticky: once set, no read or worker starts and reads end. */
  let closed = false;

  // --- phase 2: the worker thread ---
  let worker: Worker | null = null;
  let workerReady = false;
  let workerError: Promise<Error> | null = null;
  let control: Int32Array | null = null;
  let ring: Uint8Array | null = null;
  let consumed = 0;

  const startWorker = () => {
    try {
      const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "text/javascript" }));
      worker = new Worker(url, { type: "module" });
      URL.revokeObjectURL(url);
    } catch {
      return; // no worker: keep reading ahead on the loop
    }
    const controlBuffer = new SharedArrayBuffer(8 * 4);
    const ringBuffer = new SharedArrayBuffer(ringBytes);
    control = new Int32Array(controlBuffer);
    ring = new Uint8Array(ringBuffer);
    workerError = new Promise<Error>((resolve) => {
      worker!.onmessage = (event: MessageEvent<"ready" | { name: string; message: string }>) => {
        if (event.data === "ready") {
          workerReady = true;
          options.onThreadReady?.();
        } else {
          const error = new Error(event.data.message);
          error.name = event.data.name;
          resolve(error);
        }
      };
    });
    worker.postMessage({ control: controlBuffer, ring: ringBuffer } satisfies WorkerStart);
  };

  const readRing = async (buffer: Uint8Array): Promise<number | null> => {
    const c = control!;
    const r = ring!;
    for (;;) {
      const seq = Atomics.load(c, SEQ);
      const available = (Atomics.load(c, WRITTEN) - consumed) | 0;
      if (available > 0) {
        // Everything at hand, across the ring's end: fewer, larger socket writes.
        const at = consumed & (r.length - 1);
        const count = Math.min(available, buffer.length);
        const first = Math.min(count, r.length - at);
        buffer.set(r.subarray(at, at + first));
        if (first < count) buffer.set(r.subarray(0, count - first), first);
        consumed = (consumed + count) | 0;
        Atomics.store(c, CONSUMED, consumed);
        if (Atomics.load(c, WORKER_WAITING) !== 0) Atomics.notify(c, CONSUMED);
        return count;
      }
      const state = Atomics.load(c, STATE);
      if (state === EOF || closed) return null;
      if (state === FAILED) throw await workerError!;
      // Raise the flag before waiting on the SEQ read above: bytes published
      // since make waitAsync return at once (see fillRing's publish).
      Atomics.store(c, LOOP_WAITING, 1);
      const wait = Atomics.waitAsync(c, SEQ, seq);
      if (wait.async) await wait.value;
      Atomics.store(c, LOOP_WAITING, 0);
    }
  };

  const startRead = () => {
    const target = ahead;
    pending = Deno.stdin.read(target);
  };

  return {
    async read(buffer) {
      if (closed) return null;
      if (leftover.length > 0) {
        const count = Math.min(leftover.length, buffer.length);
        buffer.set(leftover.subarray(0, count));
        leftover = leftover.subarray(count);
        return count;
      }
      if (ended) return null;
      if (control !== null && Atomics.load(control, GO) === RUN) return await readRing(buffer);
      if (pending === null) startRead();
      const n = await pending;
      if (n === null) {
        ended = true;
        return null;
      }
      total += n;
      const got = ahead;
      [ahead, spare] = [spare, ahead];
      if (closed) {
        // A read in flight at close() still hands out its bytes, but nothing
        // new starts: a worker started now would keep the process alive.
        pending = null;
      } else {
        if (total > threadAfter && worker === null) startWorker();
        if (workerReady && control !== null) {
          // No read is in flight now: hand stdin to the worker.
          pending = null;
          Atomics.store(control, GO, RUN);
          Atomics.notify(control, GO);
        } else startRead();
      }
      const count = Math.min(n, buffer.length);
      buffer.set(got.subarray(0, count));
      if (count < n) leftover = got.slice(count, n);
      return count;
    },
    close() {
      closed = true;
      if (control !== null) {
        Atomics.store(control, GO, STOP);
        Atomics.notify(control, GO);
        Atomics.notify(control, CONSUMED);
        // Wakes a read waiting on the ring: it sees `closed` and ends.
        Atomics.notify(control, SEQ);
      }
      worker?.terminate();
    },
    mode: () => control !== null && Atomics.load(control, GO) === RUN ? "thread" : "read-ahead",
  };
}

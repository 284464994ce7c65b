/**
 * The readiness loop: many TCP connections driven by one explicit event loop,
 * after OpenBSD netcat's `readwrite()` poll loop. It is the engine of every
 * multi-connection command (`probe`, `ping`, `echo`).
 *
 * ## Model
 * - You create a {@linkcode Mux} with a {@linkcode MuxHandler} (plain,
 *   synchronous callbacks), add connections with {@linkcode Mux.dial}, and
 *   `await mux.run()`.
 * - Each connection ({@linkcode MuxConn}) is a small state machine:
 *   phase `queued -> connecting -> open -> closed`, and once open two named
 *   directions, **net-in** (`idle | reading | done`) and **net-out**
 *   (`idle | writing | done`), that switch off one at a time.
 * - Every completed connect, read, write, half-close and every due deadline is
 *   pushed to one ready queue; the loop drains it and calls your handler, so an
 *   event costs O(1) whatever the number of connections. There is no
 *   `Promise.race` over connections.
 * - One read and one write in flight per connection. `write()` queues; the
 *   queue is your backpressure signal (`conn.writesQueued`).
 * - Connections are made by a dialer (`options.dialer`): plain TCP by
 *   default, or the whole dial stack (proxy, TLS) — the loop only sees a
 *   {@linkcode Conn} and never knows which layers it went through.
 * - Deadlines per connection: `connect` (from connect start, until open),
 *   `first-byte` (from open, until the first byte read), `idle` (since the last
 *   byte moved either way), `total` (from connect start). All live in one
 *   min-heap driven by one `setTimeout`; progress only moves a timestamp (the
 *   heap entry is re-checked lazily when it comes due). A deadline that fires
 *   closes the connection with a timeout {@linkcode NetError} whose `timer`
 *   names it.
 * - At most `maxConnecting` connects in flight (never more than
 *   {@linkcode MAX_CONNECTS_IN_FLIGHT} = 128: past that, Deno 2.9 stalls the
 *   excess connects until they time out), at most `maxOpen` sockets in use.
 * - A self-connect (the kernel chose the probed port as our source port, and
 *   TCP simultaneous open connected the socket to itself) is retried by the
 *   dialer (lib/net/dial.ts `connectTcp`) and then reported as refused, never
 *   as open.
 * - When a connect fails with EMFILE/ENFILE the loop lowers `maxOpen` to
 *   what is open now, puts the dial back at the head of the queue, calls
 *   `onFdLimit`, and retries when a socket closes; only when nothing at all is
 *   open does the dial fail. With `sharedFds` (other threads of the process
 *   use descriptors too) it instead waits for them a bounded number of times,
 *   and raises `maxOpen` again step by step as sockets close, since the
 *   descriptors the other threads held come back.
 * - One `AbortSignal` (`options.signal`) cancels everything: queued dials,
 *   connects in flight, open connections, timers. `run()` then rejects with
 *   the signal's reason, after every socket is closed and every operation has
 *   settled (no leaked ops or resources).
 *
 * ## Handler rules
 * - Callbacks run from the loop, one at a time, never concurrently. They must
 *   not block.
 * - The `chunk` given to `onData` is a view of the connection's reused read
 *   buffer: copy it (`chunk.slice()`) if you keep it past the callback.
 * - Every dialed connection gets exactly one `onClose`, whatever
 *   happened (connect failed, timed out, aborted, closed by you, EOF). No
 *   other callback comes after it. `onClose` may run inside your own
 *   `conn.close()` call.
 * - A connection closes itself ("eof") when net-in has seen EOF and net-out
 *   has nothing left to send (or is half-closed). Otherwise it stays open
 *   until you `close()` it or a deadline fires.
 *
 * ## When `run()` ends
 * It resolves when nothing is live: no connection queued, connecting or open,
 * no timer from {@linkcode Mux.after} pending, no operation in flight. You may
 * `dial()` and `after()` from callbacks to keep it going (that is how
 * `tcpc ping` paces attempts). It rejects with the signal's reason when
 * aborted, or with the error a callback threw (after closing everything).
 *
 * @example Echo client: pipeline two messages, half-close, read to EOF
 * ```ts
 * import { Mux } from "./mux.ts";
 * const encoder = new TextEncoder();
 * const mux = new Mux<{ received: number; sentAt: number[] }>({
 *   handler: {
 *     onOpen(conn) {
 *       conn.write(encoder.encode("one\n"));
 *       conn.write(encoder.encode("two\n")); // queued: one write in flight
 *       conn.closeWrite(); // shutdown(SHUT_WR) once both are sent
 *     },
 *     onWritten(conn) {
 *       conn.state.sentAt.push(performance.now()); // per-message send time
 *     },
 *     onData(conn, chunk) {
 *       conn.state.received += chunk.length; // chunk is reused: copy to keep
 *     },
 *     onClose(conn, result) {
 *       // result.reason: "eof" here (peer closed after our half-close)
 *       console.log(conn.address, result.reason, conn.state.received, result.error);
 *     },
 *   },
 *   maxConnecting: 100,
 *   signal: AbortSignal.timeout(10_000),
 * });
 * mux.dial({
 *   hostname: "127.0.0.1",
 *   port: 7,
 *   state: { received: 0, sentAt: [] },
 *   connectTimeoutMs: 2000,
 *   idleTimeoutMs: 5000,
 * });
 * await mux.run();
 * ```
 *
 * @module
 */

import { NetError } from "../errors.ts";
import type { Conn } from "./conn.ts";
import { connectTcp } from "./tcp_connect.ts";
import { Slot, type SlotIo, type SlotOwner } from "./mux_slot.ts";
import type {
  CloseResult,
  DeadlineName,
  DialSpec,
  DialTarget,
  MuxCloseReason,
  MuxConn,
  MuxDialer,
  MuxHandler,
  MuxOptions,
  MuxStats,
} from "./mux_types.ts";
import { deadlineError, isFdExhausted, toNetError } from "./net_errors.ts";
import { ReadyQueue } from "./ready_queue.ts";
import { TimerHeap } from "./timer_heap.ts";

export type * from "./mux_types.ts";

/**
 * Most connects in flight at once. Measured on Deno 2.9.6: with more than 128
 * connects pending in one process, the ones past 128 stall (no result) for as
 * long as the event loop stays busy, then time out; at 128 or fewer none
 * stall. The kernel is not the cause (an epoll client in Python with 1,024 in
 * flight in the same namespace sees no stall); 128 is tokio's cooperative
 * budget per task tick (the likely mechanism; not proven).
 */
export const MAX_CONNECTS_IN_FLIGHT = 128;

/**
 * With `sharedFds`: how long one dial waits for descriptors in all before it
 * fails, ms, or its connect timeout if that is longer.
 */
const FD_WAIT_BUDGET_MS = 2000;
/** With `sharedFds`: how long each of those waits is, ms. */
const FD_WAIT_MS = 20;

const enum Ev {
  Connected,
  ConnectFailed,
  Read,
  ReadFailed,
  Wrote,
  WriteFailed,
  HalfClosed,
}

interface Event<T> {
  kind: Ev;
  slot: Slot<T>;
  n: number | null;
  value: unknown;
}

interface Task {
  fn: () => void;
  cancelled: boolean;
}

/**
 * The readiness loop over many connections. See the module documentation for
 * the model, the handler rules and when `run()` ends.
 *
 * @example Probe three ports, 2 s connect deadline each
 * ```ts
 * import { Mux } from "./mux.ts";
 * const mux = new Mux<null>({
 *   handler: {
 *     onOpen: (conn) => conn.close(),
 *     onClose: (conn, result) => console.log(conn.port, result.connected, result.error),
 *   },
 * });
 * for (const port of [22, 80, 443]) {
 *   mux.dial({ hostname: "127.0.0.1", port, state: null, read: false, connectTimeoutMs: 2000 });
 * }
 * await mux.run();
 * ```
 */
export class Mux<T> implements SlotOwner<T> {
  #handler: MuxHandler<T>;
  #dialer: MuxDialer;
  #signal: AbortSignal | undefined;
  #maxConnecting: number;
  #maxOpen: number;
  #bufferSize: number;
  #onFdLimit: ((cap: number, error: unknown) => void) | undefined;
  #sharedFds: boolean;
  /** `maxOpen` as configured: the ceiling when `sharedFds` raises it again. */
  #maxOpenCeiling: number;
  /** Closes since `maxOpen` was last raised (with `sharedFds`). */
  #regrow = 0;
  /** Dials paused until a descriptor wait ends (with `sharedFds`). */
  #fdPaused = false;

  #queue = new ReadyQueue<Event<T>>();
  /**
   * Deadlines: a slot's entry is its id, not the slot. Entries stay until
   * due, long after most connections closed (a sweep's refused connect lasts
   * a millisecond, its deadline is seconds away): holding the slots kept
   * every closed connection and its state alive (measured: a 65,535-port
   * sweep's young-generation GCs copied 20-30 MB each), and even a small
   * object per entry survives every GC of those seconds. A number is neither.
   */
  #heap = new TimerHeap<number | Task>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #timerDue = false;
  #running = false;
  /**
   * `performance.now()` read at most once per pass of the loop (one drain of
   * the ready queue), when an event first needs it (NaN until then): every
   * timestamp and deadline set while handling the rest of that pass counts
   * from there. A clock read costs about 0.2 us here, as much as the rest of
   * the loop's work for one message; at 100 connections a pass handles about
   * 50 events, so this is one read per 50 events instead of one per event.
   *
   * Why the stamps stay honest: the drain is synchronous and events are only
   * queued from promise callbacks, so every event of a pass completed before
   * the pass began. One reading taken during the pass is therefore never
   * earlier than the completion of any event it stamps (an RTT is never
   * understated, a deadline counted from an event never ends early), and it
   * is no later than any write issued after it (a send stamp is never late).
   * Before, the reading was the event's own dispatch time: later than its
   * completion by its wait in the queue, at most one pass, the same bound.
   */
  #clock = NaN;
  /** True while an event or a due timer is being handled. */
  #dispatching = false;
  /**
   * Slots whose write completed while no clock was read: they get the next
   * reading (taken for a later event of the same pass, or at its end), which
   * is never before the completion and at most one pass of the loop after it.
   */
  #unstamped: Slot<T>[] = [];

  /** Dials to start, FIFO with a moving head; `#retry` (EMFILE) goes first. */
  #pending: (Slot<T> | undefined)[] = [];
  #pendingHead = 0;
  #retry: Slot<T>[] = [];
  #queued = 0;
  #connecting = 0;
  #open = 0;
  #closed = 0;
  #inflight = 0;
  #tasks = 0;
  /** Live slots by id (queued, connecting, open). */
  #live = new Map<number, Slot<T>>();
  #nextId = 1;
  #fdLimitHits = 0;
  #events = 0;
  #failure: { error: unknown } | null = null;
  #stopping: { reason: unknown } | null = null;

  /** Builds a loop; nothing starts before {@linkcode Mux.run}. */
  constructor(options: MuxOptions<T>) {
    this.#handler = options.handler;
    this.#dialer = options.dialer ?? plainTcp;
    this.#signal = options.signal;
    this.#maxConnecting = Math.min(
      MAX_CONNECTS_IN_FLIGHT,
      Math.max(1, options.maxConnecting ?? MAX_CONNECTS_IN_FLIGHT),
    );
    this.#maxOpen = Math.max(1, options.maxOpen ?? Infinity);
    this.#maxOpenCeiling = this.#maxOpen;
    this.#bufferSize = options.readBufferSize ?? 16384;
    this.#onFdLimit = options.onFdLimit;
    this.#sharedFds = options.sharedFds ?? false;
  }

  /** Current counters. */
  get stats(): MuxStats {
    return {
      queued: this.#queued,
      connecting: this.#connecting,
      open: this.#open,
      closed: this.#closed,
      maxOpen: this.#maxOpen,
      fdLimitHits: this.#fdLimitHits,
      events: this.#events,
    };
  }

  /**
   * Queues a connection; it starts when a connect slot is free (FIFO). Call
   * before or during `run()`.
   */
  dial(spec: DialSpec<T>): MuxConn<T> {
    const slot = new Slot(this, this.#nextId++, spec.hostname, spec.port, spec);
    this.#pending.push(slot);
    this.#queued++;
    this.#live.set(slot.id, slot);
    this.#queue.notify();
    if (this.#stopping !== null) this._close(slot, "aborted", this.#stopping.reason);
    return slot;
  }

  /**
   * Runs `fn` from the loop `ms` from now (same heap as the deadlines). A
   * pending timer keeps `run()` going. Returns a function that cancels it.
   */
  after(ms: number, fn: () => void): () => void {
    const task: Task = { fn, cancelled: false };
    this.#tasks++;
    this.#heap.push(performance.now() + ms, task);
    this.#armTimer();
    return () => {
      if (task.cancelled) return;
      task.cancelled = true;
      this.#tasks--;
    };
  }

  /** Runs the loop until nothing is live (see the module docs). */
  async run(): Promise<void> {
    if (this.#running) throw new TypeError("Mux.run() is already running");
    this.#running = true;
    const signal = this.#signal;
    const onAbort = () => this.#queue.notify();
    signal?.addEventListener("abort", onAbort);
    let aborted = false;
    try {
      this.#armTimer();
      for (;;) {
        if (!aborted && this.#failure === null && signal?.aborted) {
          aborted = true;
          this.#closeAll("aborted", signal.reason);
        }
        this.#drain();
        if (this.#timerDue) {
          this.#timerDue = false;
          this.#expire();
        }
        if (this.#failure === null && !aborted) this.#startDials();
        if (this.#queue.length > 0 || this.#timerDue) continue;
        if (
          this.#inflight === 0 && (aborted || this.#failure !== null ||
            (this.#live.size === 0 && this.#tasks === 0))
        ) break;
        await this.#queue.wait();
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#heap.clear();
      this.#running = false;
    }
    if (this.#failure !== null) throw this.#failure.error;
    if (aborted) throw signal?.reason;
  }

  // ---- the loop's steps ----

  #drain(): void {
    this.#dispatching = true;
    try {
      this.#clock = NaN;
      for (let ev = this.#queue.shift(); ev !== undefined; ev = this.#queue.shift()) {
        this.#events++;
        this.#inflight--;
        try {
          this.#dispatch(ev);
        } catch (err) {
          this.#fail(err);
        }
      }
      if (this.#unstamped.length > 0) this.#tick();
    } finally {
      this.#dispatching = false;
    }
  }

  /** The time of the pass being handled: read once, on first use; stamps waiting writes. */
  #tick(): number {
    let now = this.#clock;
    if (now === now) return now; // not NaN: read already for this event
    now = this.#clock = performance.now();
    const unstamped = this.#unstamped;
    if (unstamped.length > 0) {
      for (let i = 0; i < unstamped.length; i++) unstamped[i]!.lastProgress = now;
      unstamped.length = 0;
    }
    return now;
  }

  /** @internal The time to count from: the pass being handled (see #clock), else now. */
  _now(): number {
    return this.#dispatching ? this.#tick() : performance.now();
  }

  /** A callback threw: close everything, let in-flight ops settle, then rethrow. */
  #fail(error: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = { error };
    this.#closeAll("aborted", error);
  }

  #closeAll(reason: MuxCloseReason, error: unknown): void {
    this.#stopping = { reason: error };
    for (const slot of [...this.#live.values()]) {
      try {
        this._close(slot, reason, error);
      } catch (err) {
        if (this.#failure === null) this.#failure = { error: err };
      }
    }
    this.#pending.length = 0;
    this.#pendingHead = 0;
    this.#retry.length = 0;
    this.#heap.clear();
    this.#tasks = 0;
  }

  #dispatch(ev: Event<T>): void {
    const slot = ev.slot;
    switch (ev.kind) {
      case Ev.Connected:
        this.#connecting--;
        return this.#onConnected(slot, ev.value as Conn);
      case Ev.ConnectFailed:
        this.#connecting--;
        return this.#onConnectFailed(slot, ev.value);
      case Ev.Read:
        return this.#onRead(slot, ev.n);
      case Ev.Wrote:
        return this.#onWrote(slot, ev.n ?? 0);
      case Ev.HalfClosed:
        if (slot.phase !== "open") return;
        slot.netOut = "done";
        return this.#checkDone(slot);
      case Ev.ReadFailed:
      case Ev.WriteFailed:
        if (slot.phase !== "open") return;
        return this._close(
          slot,
          "error",
          toNetError(ev.value, {
            op: ev.kind === Ev.ReadFailed ? "read" : "write",
            address: slot.address,
          }),
        );
    }
  }

  #startDials(): void {
    if (this.#fdPaused) return;
    while (
      this.#queued > 0 && this.#connecting < this.#maxConnecting &&
      this.#connecting + this.#open < this.#maxOpen
    ) {
      let slot = this.#retry.pop();
      if (slot === undefined) {
        slot = this.#pending[this.#pendingHead];
        // Let go of it: the array lives on while a long run keeps dialing.
        this.#pending[this.#pendingHead++] = undefined;
      }
      if (this.#pendingHead >= this.#pending.length) {
        this.#pending.length = 0;
        this.#pendingHead = 0;
      } else if (this.#pendingHead >= 4096 && this.#pendingHead * 2 >= this.#pending.length) {
        this.#pending = this.#pending.slice(this.#pendingHead);
        this.#pendingHead = 0;
      }
      if (slot === undefined) return;
      if (slot.phase !== "queued") continue; // closed while queued
      this.#queued--;
      this.#connect(slot);
    }
  }

  #beginConnect(slot: Slot<T>): void {
    const now = performance.now();
    slot.phase = "connecting";
    slot.startedAt = now;
    const { connect, total } = slot.limits;
    slot.due.connect = connect === undefined ? Infinity : now + connect;
    slot.due.total = total === undefined ? Infinity : now + total;
    this.#connecting++;
    this._arm(slot);
  }

  #connect(slot: Slot<T>): void {
    this.#beginConnect(slot);
    // One AbortController per connect, aborted by this slot's heap deadline or
    // by close(): no timer per operation, and an aborted connect leaves no
    // half-open socket (FACTS.md).
    const abort = new AbortController();
    slot.abort = abort;
    this.#inflight++;
    let promise: Promise<Conn>;
    try {
      promise = this.#dialer(
        { hostname: slot.hostname, port: slot.port, name: slot.name, noDelay: slot.noDelay },
        abort.signal,
      );
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (conn) => this.#queue.push({ kind: Ev.Connected, slot, n: null, value: conn }),
      (err) => this.#queue.push({ kind: Ev.ConnectFailed, slot, n: null, value: err }),
    );
  }

  #onConnected(slot: Slot<T>, conn: Conn): void {
    slot.abort = null;
    if (slot.phase !== "connecting") {
      // Closed (deadline, abort) while the connect was completing.
      conn.close();
      return;
    }
    const now = this.#tick();
    slot.phase = "open";
    slot.conn = conn;
    slot.openedAt = now;
    slot.lastProgress = now;
    this.#open++;
    const firstByte = slot.limits["first-byte"];
    slot.due.connect = Infinity; // "once connected, the dial deadline no longer applies"
    slot.due["first-byte"] = firstByte === undefined ? Infinity : now + firstByte;
    this._arm(slot);
    this.#handler.onOpen?.(slot);
    if (slot.phase !== "open") return;
    if (slot.netOut === "idle") this._pumpWrite(slot);
    if (slot.wantRead && slot.netIn === "idle") this._read(slot);
  }

  #onConnectFailed(slot: Slot<T>, err: unknown): void {
    slot.abort = null;
    if (slot.phase !== "connecting") return; // closed already: deadline or abort
    if (isFdExhausted(err)) {
      const inUse = this.#connecting + this.#open;
      if (inUse > 0) {
        // Out of descriptors: run with what we have, retry this one first.
        this.#maxOpen = inUse;
        this.#fdLimitHits++;
        this.#requeue(slot);
        this.#onFdLimit?.(inUse, err);
        return;
      }
      const budget = Math.max(slot.limits.connect ?? 0, FD_WAIT_BUDGET_MS);
      if (this.#sharedFds && slot.fdWaits * FD_WAIT_MS < budget) {
        // Nothing open here, but other threads of this process hold
        // descriptors and will close them: retry this dial first, later. A
        // busy thread can keep them for seconds, so the dial waits 2 s or its
        // connect timeout, whichever is longer. (A fixed 2 s is the likely cause of one
        // dial lost in 3,000 probes on 2 threads under ulimit -n 100 and
        // coverage; seen once in CI-like runs, not reproduced on demand.)
        slot.fdWaits++;
        this.#fdLimitHits++;
        this.#requeue(slot);
        this.#fdPaused = true;
        this.after(FD_WAIT_MS, () => this.#fdPaused = false);
        this.#onFdLimit?.(0, err);
        return;
      }
    }
    // A failed connect is a result (a sweep makes one per closed port), not
    // a bug: no stack trace, which costs microseconds per error in Deno.
    this._close(
      slot,
      "error",
      toNetError(err, { op: "connect", address: slot.address, stack: false }),
    );
  }

  /** Puts a dial whose connect ended back at the head of the queue. */
  #requeue(slot: Slot<T>): void {
    slot.phase = "queued";
    slot.startedAt = 0;
    slot.armedAt = Infinity;
    this.#retry.push(slot);
    this.#queued++;
  }

  /**
   * The slot's completion callbacks. One read and one write in flight at
   * most, so each direction reuses one event object: it is out of the ready
   * queue (dispatched) before the next operation of that direction starts.
   */
  #io(slot: Slot<T>): SlotIo {
    const queue = this.#queue;
    const readEv: Event<T> = { kind: Ev.Read, slot, n: null, value: null };
    const writeEv: Event<T> = { kind: Ev.Wrote, slot, n: null, value: null };
    return slot.io = {
      read(n) {
        readEv.kind = Ev.Read;
        readEv.n = n;
        queue.push(readEv);
      },
      readFailed(err) {
        readEv.kind = Ev.ReadFailed;
        readEv.n = null;
        readEv.value = err;
        queue.push(readEv);
      },
      wrote(n) {
        writeEv.kind = Ev.Wrote;
        writeEv.n = n;
        queue.push(writeEv);
      },
      halfClosed() {
        writeEv.kind = Ev.HalfClosed;
        writeEv.n = null;
        queue.push(writeEv);
      },
      writeFailed(err) {
        writeEv.kind = Ev.WriteFailed;
        writeEv.n = null;
        writeEv.value = err;
        queue.push(writeEv);
      },
    };
  }

  /** @internal Starts a read if net-in may read. */
  _read(slot: Slot<T>): void {
    const conn = slot.conn;
    if (conn === null || slot.netIn !== "idle") return;
    slot.netIn = "reading";
    const buffer = slot.buffer ??= new Uint8Array(this.#bufferSize);
    this.#inflight++;
    const io = slot.io ?? this.#io(slot);
    conn.read(buffer).then(io.read, io.readFailed);
  }

  #onRead(slot: Slot<T>, n: number | null): void {
    if (slot.phase !== "open") return;
    if (n === null) {
      slot.netIn = "done";
      this.#handler.onEof?.(slot);
      return this.#checkDone(slot);
    }
    slot.netIn = "idle";
    const now = this.#tick();
    slot.bytesIn += n;
    slot.lastProgress = now;
    if (slot.firstByteAt === null && n > 0) {
      slot.firstByteAt = now;
      slot.due["first-byte"] = Infinity;
    }
    // One view per slot while reads keep their length (fixed-size replies):
    // the chunk is valid only during the call, so reusing it changes nothing.
    let view = slot.view;
    if (view === null || view.length !== n) view = slot.view = slot.buffer!.subarray(0, n);
    this.#handler.onData?.(slot, view);
    if (slot.phase === "open" && slot.wantRead) this._read(slot);
  }

  /** @internal Starts the next write, or the half-close, if net-out is idle. */
  _pumpWrite(slot: Slot<T>): void {
    const conn = slot.conn;
    if (conn === null || slot.netOut !== "idle") return;
    const data = slot.writeHead < slot.writeTail ? slot.writes[slot.writeHead] : undefined;
    if (data !== undefined) {
      slot.netOut = "writing";
      this.#inflight++;
      const io = slot.io ?? this.#io(slot);
      const offset = slot.writeOffset;
      conn.write(offset === 0 ? data : data.subarray(offset)).then(io.wrote, io.writeFailed);
    } else if (slot.wantCloseWrite) {
      slot.netOut = "writing";
      this.#inflight++;
      const io = slot.io ?? this.#io(slot);
      conn.closeWrite().then(io.halfClosed, io.writeFailed);
    }
  }

  #onWrote(slot: Slot<T>, n: number): void {
    if (slot.phase !== "open") return;
    slot.netOut = "idle";
    slot.bytesOut += n;
    // Stamped with the next clock reading (see #unstamped): none read here.
    if (this.#clock === this.#clock) slot.lastProgress = this.#clock;
    else this.#unstamped.push(slot);
    slot.writeOffset += n;
    const data = slot.writes[slot.writeHead]!;
    if (slot.writeOffset >= data.length) {
      slot.writes[slot.writeHead++] = undefined;
      slot.writeOffset = 0;
      if (slot.writeHead === slot.writeTail) {
        slot.writeHead = 0;
        slot.writeTail = 0;
      }
      this.#handler.onWritten?.(slot, data);
      if (slot.phase !== "open") return;
    }
    this._pumpWrite(slot);
    this.#checkDone(slot);
  }

  /** Ends a connection whose peer closed once nothing is left to send. */
  #checkDone(slot: Slot<T>): void {
    if (slot.phase !== "open" || slot.netIn !== "done") return;
    const outDone = slot.netOut === "done" ||
      (slot.netOut === "idle" && slot.writesQueued === 0);
    if (outDone) this._close(slot, "eof", null);
  }

  // ---- deadlines: one heap, one setTimeout ----

  /** When this slot's next deadline is due (the earliest of those that apply). */
  #nextAt(slot: Slot<T>): number {
    let at = slot.due.total;
    if (slot.phase === "connecting") {
      if (slot.due.connect < at) at = slot.due.connect;
    } else if (slot.phase === "open") {
      if (slot.due["first-byte"] < at) at = slot.due["first-byte"];
      const idle = slot.limits.idle;
      if (idle !== undefined && slot.lastProgress + idle < at) at = slot.lastProgress + idle;
    }
    return at;
  }

  /** Which deadline is due next, and when (only when one fires: it allocates). */
  #nextDue(slot: Slot<T>): [DeadlineName, number] {
    let name: DeadlineName = "total";
    let at = slot.due.total;
    if (slot.phase === "connecting" && slot.due.connect < at) {
      name = "connect";
      at = slot.due.connect;
    }
    if (slot.phase === "open") {
      if (slot.due["first-byte"] < at) {
        name = "first-byte";
        at = slot.due["first-byte"];
      }
      const idle = slot.limits.idle;
      if (idle !== undefined && slot.lastProgress + idle < at) {
        name = "idle";
        at = slot.lastProgress + idle;
      }
    }
    return [name, at];
  }

  /** @internal Makes sure the heap holds an entry no later than this slot's next deadline. */
  _arm(slot: Slot<T>): void {
    if (slot.phase === "closed" || slot.phase === "queued") return;
    const at = this.#nextAt(slot);
    if (at >= slot.armedAt || at === Infinity) return;
    slot.armedAt = at;
    this.#heap.push(at, slot.id);
    this.#armTimer();
  }

  #armTimer(): void {
    if (!this.#running) return;
    const at = this.#heap.nextAt();
    if (at >= this.#timerAt) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#timerDue = true;
      this.#queue.notify();
    }, Math.max(0, at - performance.now()));
  }

  #expire(): void {
    const now = performance.now();
    this.#clock = now;
    this.#dispatching = true;
    // Due timers are checked against this reading: waiting write stamps first.
    for (const slot of this.#unstamped) slot.lastProgress = now;
    this.#unstamped.length = 0;
    try {
      this.#expireDue(now);
    } finally {
      this.#dispatching = false;
    }
    this.#armTimer();
  }

  #expireDue(now: number): void {
    for (const { at, item } of this.#heap.popDue(now)) {
      if (typeof item !== "number") {
        if (item.cancelled) continue;
        item.cancelled = true;
        this.#tasks--;
        try {
          item.fn();
        } catch (err) {
          this.#fail(err);
        }
        continue;
      }
      const slot = this.#live.get(item);
      // Closed (no longer live), or re-armed earlier or requeued: a stale entry.
      if (slot === undefined || at !== slot.armedAt) continue;
      slot.armedAt = Infinity;
      const [name, due] = this.#nextDue(slot);
      if (due <= now) {
        const ms = slot.limits[name] ?? 0;
        try {
          this._close(slot, "timeout", deadlineError(name, ms, slot.address));
        } catch (err) {
          this.#fail(err);
        }
      } else this._arm(slot); // progress moved it: re-check later
    }
  }

  // ---- closing ----

  /** @internal Closes a connection once and tells the handler. */
  _close(slot: Slot<T>, reason: MuxCloseReason, error: unknown): void {
    const was = slot.phase;
    if (was === "closed") return;
    slot.phase = "closed";
    this.#live.delete(slot.id);
    this.#closed++;
    const now = performance.now();
    if (was === "queued") this.#queued--;
    if (was === "connecting") {
      // The connect rejects with this reason; its event is then dropped.
      slot.abort?.abort(
        error ?? new NetError("closed", "closed before connect", {
          op: "connect",
          address: slot.address,
        }),
      );
    }
    if (this.#sharedFds && this.#maxOpen < this.#maxOpenCeiling && was !== "queued") {
      // Other threads free descriptors too: probe upwards again.
      if (++this.#regrow > this.#maxOpen / 4) {
        this.#regrow = 0;
        this.#maxOpen++;
      }
    }
    if (was === "open") {
      this.#open--;
      slot.conn?.close();
    }
    slot.conn = null;
    slot.writes.length = 0;
    slot.writeHead = 0;
    slot.writeTail = 0;
    slot.buffer = null;
    slot.view = null;
    const result: CloseResult = {
      reason,
      error,
      connected: slot.openedAt !== null,
      connectMs: slot.openedAt === null ? null : slot.openedAt - slot.startedAt,
      firstByteMs: slot.firstByteAt === null || slot.openedAt === null
        ? null
        : slot.firstByteAt - slot.openedAt,
      totalMs: slot.startedAt === 0 ? 0 : now - slot.startedAt,
      bytesIn: slot.bytesIn,
      bytesOut: slot.bytesOut,
    };
    this.#queue.notify();
    this.#handler.onClose?.(slot, result);
  }
}

/** The default dialer: one plain TCP connect (self-connects retried, then refused). */
function plainTcp(
  target: DialTarget,
  signal: AbortSignal,
): Promise<Conn> {
  return connectTcp(target.hostname, target.port, { signal, noDelay: target.noDelay });
}

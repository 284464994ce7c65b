/**
 * One connection of the readiness loop (lib/net/mux.ts): its state machine
 * (phase, net-in, net-out), its write queue (one write in flight: the
 * backpressure) and its deadline lengths and due times.
 *
 * @module
 */

import { joinHostPort } from "./address.ts";
import type { Conn } from "./conn.ts";
import type {
  ConnPhase,
  DeadlineName,
  DialSpec,
  MuxCloseReason,
  MuxConn,
  NetInState,
  NetOutState,
} from "./mux_types.ts";

/**
 * What a slot asks of the loop that owns it (lib/net/mux.ts).
 *
 * @example
 * ```ts
 * import type { SlotOwner } from "./mux_slot.ts";
 * declare const owner: SlotOwner<null>;
 * ```
 */
export interface SlotOwner<T> {
  /** The time to count from: the loop pass being handled, else `performance.now()`. */
  _now(): number;
  /** Starts the next write, or the half-close, if net-out is idle. */
  _pumpWrite(slot: Slot<T>): void;
  /** Makes sure the deadline heap holds this slot's next deadline. */
  _arm(slot: Slot<T>): void;
  /** Closes the slot once and tells the handler. */
  _close(slot: Slot<T>, reason: MuxCloseReason, error: unknown): void;
}

/**
 * The completion callbacks of one slot's read and write, made once per slot by
 * the loop so that an operation allocates no closure (one read and one write
 * in flight at most, so one of each serves every operation).
 *
 * @example
 * ```ts
 * import type { SlotIo } from "./mux_slot.ts";
 * declare const io: SlotIo;
 * io.read(null); // EOF
 * ```
 */
export interface SlotIo {
  /** A read completed with `n` bytes, or null at EOF. */
  read(n: number | null): void;
  /** A read failed. */
  readFailed(error: unknown): void;
  /** A write completed with `n` bytes. */
  wrote(n: number): void;
  /** The half-close completed. */
  halfClosed(): void;
  /** A write or the half-close failed. */
  writeFailed(error: unknown): void;
}

/**
 * The internal state of one connection of the loop: its phase, its two
 * directions, its write queue and its deadlines. The handler sees it as a
 * {@linkcode MuxConn}.
 *
 * @example Only the loop makes slots
 * ```ts
 * import type { Slot } from "./mux_slot.ts";
 * declare const slot: Slot<null>;
 * console.log(slot.phase, slot.writesQueued);
 * ```
 */
export class Slot<T> implements MuxConn<T> {
  readonly id: number;
  readonly state: T;
  readonly hostname: string;
  /** The host as the user gave it (the spec's `name`, else `hostname`). */
  readonly name: string;
  readonly port: number;
  readonly address: string;
  phase: ConnPhase = "queued";
  netIn: NetInState = "idle";
  netOut: NetOutState = "idle";
  conn: Conn | null = null;
  bytesIn = 0;
  bytesOut = 0;
  startedAt = 0;
  openedAt: number | null = null;
  firstByteAt: number | null = null;
  lastProgress = 0;
  wantRead: boolean;
  wantCloseWrite = false;
  noDelay: boolean;
  buffer: Uint8Array | null = null;
  /** The last `onData` chunk, a view of `buffer`, reused while the read length repeats. */
  view: Uint8Array | null = null;
  /**
   * Queued writes are `writes[writeHead .. writeTail)`. The array keeps its
   * capacity when it empties (head and tail go back to 0): no allocation per
   * message.
   */
  writes: (Uint8Array | undefined)[] = [];
  writeHead = 0;
  writeTail = 0;
  writeOffset = 0;
  abort: AbortController | null = null;
  /** Completion callbacks, made by the loop on first use. */
  io: SlotIo | null = null;
  /** Deadline lengths (for messages) and absolute due times. */
  limits: Record<DeadlineName, number | undefined>;
  due: Record<Exclude<DeadlineName, "idle">, number> = {
    connect: Infinity,
    "first-byte": Infinity,
    total: Infinity,
  };
  /** The due time of this slot's valid heap entry (others are stale). */
  armedAt = Infinity;
  /** EMFILE waits with nothing open so far (20 ms each, for 2 s or the connect timeout). */
  fdWaits = 0;
  #mux: SlotOwner<T>;

  constructor(
    mux: SlotOwner<T>,
    id: number,
    hostname: string,
    port: number,
    spec: DialSpec<T>,
  ) {
    this.#mux = mux;
    this.id = id;
    this.state = spec.state;
    this.hostname = hostname;
    this.name = spec.name ?? hostname;
    this.port = port;
    this.address = joinHostPort(hostname, port);
    this.wantRead = spec.read ?? true;
    this.noDelay = spec.noDelay ?? false;
    this.limits = {
      connect: spec.connectTimeoutMs,
      "first-byte": spec.firstByteTimeoutMs,
      idle: spec.idleTimeoutMs,
      total: spec.totalTimeoutMs,
    };
  }

  get writesQueued(): number {
    return this.writeTail - this.writeHead;
  }

  write(data: Uint8Array): void {
    if (this.phase === "closed" || this.wantCloseWrite) {
      throw new TypeError(`write to "${this.address}" after close or closeWrite`);
    }
    this.writes[this.writeTail++] = data;
    if (this.phase === "open" && this.netOut === "idle") this.#mux._pumpWrite(this);
  }

  closeWrite(): void {
    if (this.phase === "closed" || this.wantCloseWrite) return;
    this.wantCloseWrite = true;
    if (this.phase === "open" && this.netOut === "idle") this.#mux._pumpWrite(this);
  }

  setDeadline(name: DeadlineName, ms: number | undefined): void {
    if (this.phase === "closed") return;
    this.limits[name] = ms;
    if (name === "idle") return this.#mux._arm(this);
    const at = ms === undefined ? Infinity : this.#mux._now() + ms;
    this.due[name] = at;
    // The heap already holds an entry no later than every other deadline of
    // this slot (armedAt); one that also comes before this one covers it too,
    // and is re-checked lazily when due. A per-reply timer moving forward
    // (tcpc echo) takes this path: no heap work per reply.
    if (at >= this.armedAt) return;
    this.#mux._arm(this);
  }

  close(error?: unknown): void {
    this.#mux._close(this, error === undefined ? "local" : "error", error ?? null);
  }
}

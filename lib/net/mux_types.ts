/**
 * The public types of the readiness loop (lib/net/mux.ts): a connection as the
 * handler sees it, the handler's callbacks, the loop's options and counters.
 *
 * @module
 */

import type { CloseReason, Conn } from "./conn.ts";
import type { DeadlineName } from "./net_errors.ts";

export type { DeadlineName } from "./net_errors.ts";

/** Where a connection is in its life. */
export type ConnPhase = "queued" | "connecting" | "open" | "closed";

/** The net-in direction: not reading now, a read in flight, or EOF seen. */
export type NetInState = "idle" | "reading" | "done";

/** The net-out direction: nothing in flight, a write in flight, or half-closed. */
export type NetOutState = "idle" | "writing" | "done";

/**
 * Why a connection closed: the one vocabulary of lib/net/conn.ts. `local`:
 * you called `close()` without an error; `error`: connect, read or write
 * failed, or you called `close(error)`; `aborted`: the mux's signal aborted
 * (`error` is its reason).
 */
export type MuxCloseReason = CloseReason;

/** Deadlines of one connection, in ms; unset: none. */
export interface DeadlineOptions {
  /** Connect must complete within this, from connect start. @default {undefined} */
  connectTimeoutMs?: number;
  /** The first byte must be read within this, from open. @default {undefined} */
  firstByteTimeoutMs?: number;
  /** Close when no byte moved either way for this long (open only). @default {undefined} */
  idleTimeoutMs?: number;
  /** The whole connection, from connect start to close. @default {undefined} */
  totalTimeoutMs?: number;
}

/** One connection to make. */
export interface DialSpec<T> extends DeadlineOptions {
  /** Where to connect: an IP literal (a name is resolved by the runtime on each dial). */
  hostname: string;
  /** Port, 1-65535. */
  port: number;
  /**
   * The host as the user gave it, for a dialer that needs the name (TLS SNI, a
   * proxy that resolves names). @default {hostname}
   */
  name?: string;
  /** Your per-connection state, available as `conn.state`. */
  state: T;
  /** Start net-in as soon as the connection opens. @default {true} */
  read?: boolean;
  /** Disable Nagle's algorithm once open. @default {false} */
  noDelay?: boolean;
}

/** How a connection ended, given to `onClose`. Times in ms. */
export interface CloseResult {
  /** Why it closed. */
  reason: MuxCloseReason;
  /** What ended it badly (a {@linkcode NetError}, the abort reason, yours), or null. */
  error: unknown;
  /** True when the connect succeeded. */
  connected: boolean;
  /** Connect start to open; null when it never opened. */
  connectMs: number | null;
  /** Open to the first byte read; null when none came. */
  firstByteMs: number | null;
  /** Connect start to close; 0 when it never started. */
  totalMs: number;
  /** Bytes read. */
  bytesIn: number;
  /** Bytes written. */
  bytesOut: number;
}

/** One connection of the loop, as your handler sees it. */
export interface MuxConn<T> {
  /** Unique within its mux, in dial order from 1. */
  readonly id: number;
  /** Your state from the spec (mutate it freely). */
  readonly state: T;
  /** Remote host as dialed. */
  readonly hostname: string;
  /** Remote port. */
  readonly port: number;
  /** `host:port` (brackets for IPv6), for messages. */
  readonly address: string;
  /** Where it is in its life. */
  readonly phase: ConnPhase;
  /** The net-in direction. */
  readonly netIn: NetInState;
  /** The net-out direction. */
  readonly netOut: NetOutState;
  /** The connection while open, else null (its `facts` hold what the layers learned). Do not read, write or close it yourself. */
  readonly conn: Conn | null;
  /** Bytes read so far. */
  readonly bytesIn: number;
  /** Bytes written so far. */
  readonly bytesOut: number;
  /** `write()` buffers not yet fully sent, the one in flight included. */
  readonly writesQueued: number;
  /** `performance.now()` at connect start (0 while queued). */
  readonly startedAt: number;
  /** `performance.now()` when it opened, or null. */
  readonly openedAt: number | null;
  /**
   * `performance.now()` when the last byte moved either way, or when it
   * opened; 0 before. Inside `onOpen` and `onData` it is the time of that
   * event: the loop's one clock reading for the pass that handles it, never
   * before the event completed and never after the handler runs (use it
   * instead of calling `performance.now()` again). A completed
   * write is stamped lazily, with the loop's next clock reading (no later than
   * the end of the pass that handled it), so inside `onWritten` it may still
   * hold the time of the progress before.
   */
  readonly lastProgress: number;
  /**
   * Queues `data` to send (one write in flight; the rest wait in order).
   * Allowed before open (sent once open). `onWritten` fires when all of it is
   * sent. Throws a TypeError after `closeWrite()` or close.
   */
  write(data: Uint8Array): void;
  /** Half-closes (shutdown SHUT_WR) once every queued write is sent; net-in goes on. */
  closeWrite(): void;
  /**
   * Sets a deadline to `ms` from now (inside a callback: from the loop's
   * clock reading for the pass handling the event, never before that event
   * completed; `idle`: `ms` after the last byte moved,
   * re-armed by progress); `undefined` removes it.
   */
  setDeadline(name: DeadlineName, ms: number | undefined): void;
  /**
   * Closes now: reason `local`, or `error` when `error` is given. Pending
   * operations are interrupted; `onClose` runs before this returns.
   */
  close(error?: unknown): void;
}

/** Your callbacks. All optional; all synchronous. */
export interface MuxHandler<T> {
  /** The connection opened (connect and every layer of the dialer succeeded). */
  onOpen?(conn: MuxConn<T>): void;
  /** Bytes arrived; `chunk` is only valid during the call. */
  onData?(conn: MuxConn<T>, chunk: Uint8Array): void;
  /** The peer half-closed (EOF). The conn closes after this unless writes are queued. */
  onEof?(conn: MuxConn<T>): void;
  /** Every byte of one `write(data)` is sent (the same `data` object). */
  onWritten?(conn: MuxConn<T>, data: Uint8Array): void;
  /** The end of the connection: exactly once per connection, last. */
  onClose?(conn: MuxConn<T>, result: CloseResult): void;
}

/** What a dialer is asked to connect. */
export interface DialTarget {
  /** Host as given to {@linkcode Mux.dial}. */
  hostname: string;
  /** Port. */
  port: number;
  /** The spec's `name` (the host as the user gave it), else `hostname`. */
  name: string;
  /** Disable Nagle's algorithm. */
  noDelay: boolean;
}

/**
 * Makes one connection (plain TCP, or the whole dial stack); rejects with the
 * signal's reason when aborted. Raw errors are classified by the loop.
 */
export type MuxDialer = (target: DialTarget, signal: AbortSignal) => Promise<Conn>;

/** Options of {@linkcode Mux}. */
export interface MuxOptions<T> {
  /** Your callbacks. */
  handler: MuxHandler<T>;
  /**
   * Makes each connection. @default {a plain TCP connect to `hostname`, an IP
   * literal (lib/net/dial.ts connectTcp)}
   */
  dialer?: MuxDialer;
  /** Cancels everything; `run()` rejects with its reason. @default {undefined} */
  signal?: AbortSignal;
  /**
   * Connects in flight at once; values above
   * {@linkcode MAX_CONNECTS_IN_FLIGHT} (128) are lowered to it. @default {128}
   */
  maxConnecting?: number;
  /**
   * Sockets in use at once (connecting + open); lowered automatically on
   * EMFILE. Set it below the file descriptor soft limit when you know it
   * (lib/net/fd_limit.ts). @default {Infinity}
   */
  maxOpen?: number;
  /** Size of each connection's read buffer (allocated at its first read), bytes. @default {16384} */
  readBufferSize?: number;
  /** Called when EMFILE/ENFILE lowered `maxOpen` to `cap`. @default {undefined} */
  onFdLimit?: (cap: number, error: unknown) => void;
  /**
   * Other threads of this process use descriptors too (tcpc probe's
   * workers): on EMFILE/ENFILE with no socket open here, wait 20 ms and retry
   * (for 2 s or the dial's connect timeout, whichever is longer) instead of
   * failing the dial, and after a lowering raise
   * `maxOpen` by one every `maxOpen / 4 + 1` closes, back up to its first
   * value, as the other threads free theirs. @default {false}
   */
  sharedFds?: boolean;
}

/** Counters of a mux, for progress lines and tests. */
export interface MuxStats {
  /** Dials waiting for a connect slot. */
  queued: number;
  /** Connects in flight. */
  connecting: number;
  /** Open connections. */
  open: number;
  /** Connections closed so far. */
  closed: number;
  /** Current cap on sockets in use (Infinity: none). */
  maxOpen: number;
  /** How many times EMFILE/ENFILE lowered the cap. */
  fdLimitHits: number;
  /** Events drained from the ready queue so far. */
  events: number;
}

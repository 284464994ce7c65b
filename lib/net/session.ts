/**
 * The session pump of `tcpc HOST PORT`: input -> conn -> peer -> conn -> output,
 * with honest deadlines, after OpenBSD netcat's `readwrite()`.
 *
 * Two directions run at once, each with one operation in flight (that is the
 * backpressure): net-out (input -> conn) and net-in (conn -> output). They
 * switch off one at a time. The session ends when:
 *  1. net-in sees EOF (the peer half-closed) and net-out is done: all input
 *     sent and half-closed, or waiting on input (stdin) that has not come for
 *     `EOF_GRACE_MS`. A peer's FIN leaves our direction open (RFC 9293
 *     section 3.6): input that is at hand (a file, `-d`, a busy pipe) is still
 *     sent while the peer reads, and a reset or broken pipe then is an error;
 *  2. net-in or net-out fails (reset, broken pipe): net-in drains what the
 *     kernel still holds, then we close with that error;
 *  3. input ends: we half-close (`closeWrite`, shutdown(SHUT_WR)) and keep
 *     reading until the peer closes, or until `quitAfterEofMs` (then "local");
 *  4. a deadline fires (first byte, idle, io) or the parent signal aborts
 *     (session deadline, SIGINT): we close at once and report which;
 *  5. `maxBytes` have been received: we close ("local").
 *
 * All deadlines share one lazily re-armed timer: progress only moves a
 * timestamp, and the timer re-checks when it fires.
 *
 * @module
 */

import { NetError } from "../errors.ts";
import type { ByteReader } from "../stream.ts";
import type { CloseReason, Conn } from "./conn.ts";
import { deadlineError, type DeadlineName, toNetError } from "./net_errors.ts";

export type { CloseReason } from "./conn.ts";

/** Options of {@linkcode runSession}. */
export interface SessionOptions {
  /** Data to send: a reader (stdin), fixed bytes, or null to send nothing and not half-close. */
  input: ByteReader | Uint8Array | null;
  /**
   * Receives every chunk read from the peer; must be done with it before it
   * resolves (the buffer is reused). While it is pending, the io deadline runs
   * ("a write to the output"), and a deadline or abort ends the session
   * without waiting for it.
   */
  output: (chunk: Uint8Array) => Promise<void> | void;
  /** Each read and each write on the connection must finish within this, ms. @default {undefined} */
  ioTimeoutMs?: number;
  /** Close when no byte moved either way for this long, ms. @default {undefined} */
  idleTimeoutMs?: number;
  /** The peer's first byte must arrive within this after connect, ms. @default {undefined} */
  firstByteTimeoutMs?: number;
  /** After input EOF, keep reading for at most this long, ms; unset: until the peer closes. @default {undefined} */
  quitAfterEofMs?: number;
  /** Stop after receiving this many bytes. @default {Infinity} */
  maxBytes?: number;
  /** Send LF as CRLF. @default {false} */
  crlf?: boolean;
  /** Aborting closes the session; its reason becomes the error. @default {undefined} */
  signal?: AbortSignal;
  /** Buffer size in bytes for socket reads and input reads; unset: 1 MiB and 256 KiB. @default {undefined} */
  bufferSize?: number;
  /** Called with each chunk written to the peer. @default {undefined} */
  onSent?: (chunk: Uint8Array) => void;
  /** Called with each chunk read from the peer, before `output`. @default {undefined} */
  onReceived?: (chunk: Uint8Array) => void;
  /** Called once when input ends (and the write side is half-closed). @default {undefined} */
  onHalfClose?: () => void;
  /**
   * Half-close (shutdown SHUT_WR) when input ends. Off: keep the write side
   * open and read until the peer closes or `quitAfterEofMs` (some proxies,
   * e.g. microsocks and tinyproxy, tear the tunnel down on the client's FIN).
   * @default {true}
   */
  halfClose?: boolean;
  /** The peer's address, for messages. @default {""} */
  address?: string;
}

/** What happened in a session. */
export interface SessionResult {
  /** Bytes written to the peer. */
  bytesSent: number;
  /** Bytes read from the peer. */
  bytesReceived: number;
  /** Time from session start (the connection's open) to the first received byte, ms; null if none came. */
  firstByteMs: number | null;
  /** Duration of the session, ms. */
  durationMs: number;
  /** How it ended. */
  close: CloseReason;
  /** What ended it badly, or null. */
  error: unknown;
}

const CR = 0x0d;
const LF = 0x0a;
/**
 * Socket read buffer, bytes: 1 MiB reads cost less CPU per byte than 256 KiB
 * into a stdout pipe (bench/RESULTS.md, "What we tried").
 */
const READ_BUFFER = 1 << 20;
/**
 * Input (stdin) chunk size, bytes: as large as the stdin worker's ring, so a
 * loop that fell behind takes all of it in one socket write (1 MiB measured
 * 7-14% faster than 256 KiB in wall time, same CPU; issue 16).
 */
const INPUT_CHUNK = 1 << 20;
/** Largest single write to the connection, bytes (keeps counters and -t current). */
const WRITE_PIECE = 1 << 20;
/**
 * After the peer's EOF, how long net-out may wait on input (stdin) with
 * nothing to send before the session ends, ms. Input that is at hand is sent
 * however long it takes (the deadlines still apply).
 */
const EOF_GRACE_MS = 250;

/** Resolves after `ms`; the timer is cleared when `promise` settles first. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise.catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, Math.max(0, ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function toCrlf(chunk: Uint8Array, lastWasCr: boolean): Uint8Array {
  let extra = 0;
  let prevCr = lastWasCr;
  for (const byte of chunk) {
    if (byte === LF && !prevCr) extra++;
    prevCr = byte === CR;
  }
  if (extra === 0) return chunk;
  const out = new Uint8Array(chunk.length + extra);
  let j = 0;
  prevCr = lastWasCr;
  for (const byte of chunk) {
    if (byte === LF && !prevCr) out[j++] = CR;
    out[j++] = byte;
    prevCr = byte === CR;
  }
  return out;
}

/**
 * Runs one session over a connected `conn` and closes it. Network failures do
 * not throw: they are returned in `error` with the bytes counted so far.
 *
 * @example Send a line, print the reply
 * ```ts
 * import { runSession } from "./session.ts";
 * import { dial } from "./dial.ts";
 * const conn = await dial("127.0.0.1", 7, { connectTimeoutMs: 2000 });
 * const result = await runSession(conn, {
 *   input: new TextEncoder().encode("hello\n"),
 *   output: (chunk) => void Deno.stdout.writeSync(chunk),
 *   idleTimeoutMs: 2000,
 * });
 * console.log(result.close, result.bytesReceived);
 * ```
 */
export async function runSession(
  conn: Conn,
  options: SessionOptions,
): Promise<SessionResult> {
  const started = performance.now();
  const address = options.address ?? "";
  const maxBytes = options.maxBytes ?? Infinity;
  let bytesSent = 0;
  let bytesReceived = 0;
  let firstByteAt: number | null = null;
  let lastActivity = started;
  let readStartedAt: number | null = null;
  let writeStartedAt: number | null = null;
  let outputStartedAt: number | null = null;
  let eofAt: number | null = null;
  let error: unknown = null;
  let close: CloseReason | null = null;
  let closed = false;

  const closeConn = () => {
    if (closed) return;
    closed = true;
    conn.close();
  };
  let onEnded = () => {};
  const ended = new Promise<void>((resolve) => onEnded = resolve);
  /** Ends the session once; the first reason wins. */
  const finish = (reason: CloseReason, err: unknown = null) => {
    if (close !== null) return;
    close = reason;
    error = err;
    onEnded();
  };

  // --- one timer for every deadline ---
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = Infinity;
  const deadlines = (): [string, number, number, string?][] => {
    const list: [string, number, number, string?][] = [];
    const { firstByteTimeoutMs: fb, idleTimeoutMs: idle, ioTimeoutMs: io } = options;
    if (fb !== undefined && firstByteAt === null) list.push(["first-byte", started + fb, fb]);
    if (idle !== undefined) list.push(["idle", lastActivity + idle, idle]);
    // A read waits as long as the peer is silent; it counts as stalled only while
    // nothing else moves either (a long upload to a silent sink is progress).
    // While a write is in flight its own deadline covers the stall (and names it).
    if (io !== undefined && readStartedAt !== null && writeStartedAt === null) {
      list.push(["io", Math.max(readStartedAt, lastActivity) + io, io, "a read"]);
    }
    if (io !== undefined && writeStartedAt !== null) {
      list.push(["io", writeStartedAt + io, io, "a write"]);
    }
    if (io !== undefined && outputStartedAt !== null) {
      list.push(["io", outputStartedAt + io, io, "a write to the output"]);
    }
    if (options.quitAfterEofMs !== undefined && eofAt !== null) {
      list.push(["quit", eofAt + options.quitAfterEofMs, options.quitAfterEofMs]);
    }
    return list;
  };
  const flags: Record<string, string> = {
    "first-byte": "--first-byte-timeout",
    idle: "--idle-timeout",
    io: "--timeout",
  };
  // The timer only runs while the session is open: the end clears it in the
  // same turn (finally below), and rearm() starts none after the end.
  const check = () => {
    timer = undefined;
    timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [name, at, ms, op] of deadlines()) {
      if (at <= now) {
        if (name === "quit") finish("local");
        else {
          const deadline = name as DeadlineName | "io";
          const options = { flag: flags[deadline] ?? "", ...(op ? { waiting: op } : {}) };
          finish("timeout", deadlineError(deadline, ms, address, options));
        }
        closeConn();
        return;
      }
      next = Math.min(next, at);
    }
    schedule(next);
  };
  const schedule = (at: number) => {
    if (at >= timerAt || at === Infinity) return;
    if (timer !== undefined) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(check, Math.max(0, at - performance.now()));
  };
  const rearm = () => {
    if (close !== null) return;
    let next = Infinity;
    for (const [, at] of deadlines()) next = Math.min(next, at);
    schedule(next);
  };

  const onAbort = () => {
    const reason = options.signal?.reason;
    const timedOut = reason instanceof NetError && reason.kind === "timeout";
    // A bare DOMException (AbortSignal.timeout) is classified; anything else
    // (Interrupted, a --deadline NetError, a caller's own error) is kept.
    const error = reason instanceof DOMException
      ? toNetError(reason, { op: "session", address, timer: "deadline" })
      : reason;
    finish(timedOut || reason instanceof DOMException ? "timeout" : "aborted", error);
    closeConn();
  };

  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  rearm();

  // --- net-in: conn -> output ---
  const netIn = async () => {
    const buffer = new Uint8Array(options.bufferSize ?? READ_BUFFER);
    while (close === null) {
      readStartedAt = performance.now();
      rearm();
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (err) {
        readStartedAt = null;
        if (close === null) finish("error", toNetError(err, { op: "read", address }));
        return;
      }
      readStartedAt = null;
      if (n === null) {
        // The peer half-closed while we may still be sending. Our direction stays
        // open: net-out goes on while it has input at hand, and a peer that then
        // resets or closes before reading is reported, never passed off as "eof"
        // with our data dropped. Only input that does not come (a quiet stdin)
        // ends the wait.
        while (sending && pendingError === null && close === null) {
          const waited = inputWaitingSince === null ? 0 : performance.now() - inputWaitingSince;
          if (waited >= EOF_GRACE_MS) break;
          await settleWithin(Promise.race([outDone, ended]), EOF_GRACE_MS - waited);
        }
        finish(pendingError === null ? "eof" : "error", pendingError);
        return;
      }
      const now = performance.now();
      firstByteAt ??= now;
      lastActivity = now;
      let chunk = buffer.subarray(0, n);
      if (bytesReceived + n > maxBytes) chunk = chunk.subarray(0, maxBytes - bytesReceived);
      bytesReceived += chunk.length;
      options.onReceived?.(chunk);
      const writing = options.output(chunk);
      if (writing !== undefined) {
        // A slow consumer (a paused pager, a full pipe) holds net-in here.
        outputStartedAt = performance.now();
        if (options.ioTimeoutMs !== undefined) rearm();
        try {
          await writing;
        } finally {
          outputStartedAt = null;
        }
      }
      if (bytesReceived >= maxBytes) {
        finish("local");
        return;
      }
    }
  };

  // --- net-out: input -> conn ---
  let pendingError: unknown = null;
  let sending = options.input !== null;
  /** When net-out started waiting on its input (stdin), or null while it sends. */
  let inputWaitingSince: number | null = null;
  const writeAll = async (data: Uint8Array) => {
    let offset = 0;
    while (offset < data.length && close === null) {
      writeStartedAt = performance.now();
      rearm();
      // Conn.write sends everything; one piece at a time keeps the counters and
      // the io deadline honest during a long write to a slow reader.
      const piece = data.subarray(offset, offset + WRITE_PIECE);
      const n = await conn.write(piece);
      writeStartedAt = null;
      offset += n;
      bytesSent += n;
      lastActivity = performance.now();
    }
    options.onSent?.(data);
  };
  const netOut = async () => {
    const input = options.input;
    if (input === null) return;
    let lastWasCr = false;
    try {
      if (input instanceof Uint8Array) {
        await writeAll(options.crlf ? toCrlf(input, false) : input);
      } else {
        const buffer = new Uint8Array(options.bufferSize ?? INPUT_CHUNK);
        while (close === null) {
          inputWaitingSince = performance.now();
          const n = await input.read(buffer);
          inputWaitingSince = null;
          if (n === null) break;
          let chunk: Uint8Array = buffer.subarray(0, n);
          if (options.crlf) {
            chunk = toCrlf(chunk, lastWasCr);
            lastWasCr = chunk[chunk.length - 1] === CR;
          }
          await writeAll(chunk);
        }
      }
      if (close !== null) return;
      if (options.halfClose ?? true) await conn.closeWrite();
      sending = false;
      eofAt = performance.now();
      options.onHalfClose?.();
      rearm();
    } catch (err) {
      writeStartedAt = null;
      inputWaitingSince = null;
      sending = false;
      if (close !== null) return;
      // The peer went away while we were sending: let net-in drain what already
      // arrived, then report this error (exit 1).
      pendingError = toNetError(err, { op: "write", address });
    }
  };

  const inDone = netIn();
  const outDone = netOut();
  // A deadline or abort ends the session at once, even while net-in waits for
  // the output to take a chunk (it cannot be cancelled): do not wait for it then.
  inDone.catch(() => {});
  try {
    // net-in returns only once `close` is set, and a write error that came
    // before net-in's end is in `error` already (it ends as "error", not "eof").
    await Promise.race([inDone, ended]);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    if (timer !== undefined) clearTimeout(timer);
    closeConn();
  }
  // net-out may be blocked on input (stdin cannot be cancelled); do not wait for it
  // unless it is only finishing a socket write that the close above interrupts.
  if (options.input instanceof Uint8Array || options.input === null) await outDone;
  else outDone.catch(() => {});
  if (error === null && pendingError !== null) error = pendingError;
  return {
    bytesSent,
    bytesReceived,
    firstByteMs: firstByteAt === null ? null : firstByteAt - started,
    durationMs: performance.now() - started,
    close: close ?? "eof",
    error,
  };
}

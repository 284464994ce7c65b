/**
 * The one classifier: whatever a lookup, connect, handshake, read or write
 * threw becomes a {@linkcode NetError} with the operation and address first,
 * a kind (and so an exit code), and for timeouts the deadline that fired.
 * Dial, the session pump and the readiness loop all use it.
 *
 * @module
 */

import {
  Interrupted,
  NetError,
  type NetErrorOptions,
  type TimerName,
  UsageError,
  VerifyError,
} from "../errors.ts";
import { formatDuration } from "../report/duration.ts";

/** The deadlines a connection of the readiness loop can have. */
export type DeadlineName = "connect" | "first-byte" | "idle" | "total";

/**
 * True for the errors that mean "this process has no file descriptor left"
 * (EMFILE: the per-process soft limit, `ulimit -n`; ENFILE: the system's).
 *
 * @example
 * ```ts
 * import { isFdExhausted } from "./net_errors.ts";
 * console.log(isFdExhausted(Object.assign(new Error("Too many open files"), { code: "EMFILE" }))); // true
 * ```
 */
export function isFdExhausted(err: unknown): boolean {
  const code = errorCode(err);
  if (code === "EMFILE" || code === "ENFILE") return true;
  return err instanceof Error && /too many open files/i.test(err.message);
}

/** Options of {@linkcode toNetError}. */
export interface ToNetErrorOptions {
  /** The operation: `lookup`, `connect`, `proxy`, `tls`, `read`, `write`, ... */
  op: string;
  /** The address it was aimed at, `host:port` (or the host for a lookup). @default {""} */
  address?: string;
  /**
   * The deadline that was running: an abort with a `TimeoutError` (from
   * `AbortSignal.timeout`) is reported as this timer. @default {"connect"}
   */
  timer?: TimerName;
  /** That deadline's length, ms, for the message. @default {undefined} */
  timeoutMs?: number;
  /** The flag that set it, for the message (e.g. `-w`). @default {undefined} */
  flag?: string;
  /** For the kernel's own connect timeout: `tcp_syn_retries` and the time it takes. @default {undefined} */
  kernel?: { synRetries: number; maxConnectMs: number };
  /**
   * Give the error a stack trace. False for errors that are results, not
   * bugs (one per refused port of a sweep): see {@linkcode stacklessNetError}.
   * @default {true}
   */
  stack?: boolean;
}

/**
 * A {@linkcode NetError} made without running the `Error` constructor, so
 * without a stack trace: `instanceof NetError` (and `Error`), the same
 * `message`, `name`, `kind`, `op`, `address`, `timer` and `cause`, the same
 * enumerable own fields in the same order (tests/net_errors_test.ts compares
 * them with `new NetError`), and `stack` is just `NetError: message`. For
 * errors that are results rather than bugs, made by the thousand: a sweep's
 * refused ports. Why: Deno turns on V8's capture of a detailed stack trace
 * (10 frames) for every isolate, so every `Error` construction walks and
 * symbolizes the stack whatever `Error.stackTraceLimit` says (measured on
 * Deno 2.9.6: 1.5-2 us at depth 0, 4-5 us at depth 20, with the limit at 10
 * or at 0; Node drops to 0.4 us at limit 0). This costs ~0.03 us.
 *
 * @example
 * ```ts
 * import { stacklessNetError } from "./net_errors.ts";
 * const err = stacklessNetError("refused", "connection refused", { op: "connect", address: "127.0.0.1:9" });
 * console.log(err.message); // connect "127.0.0.1:9": connection refused
 * ```
 */
export function stacklessNetError(
  kind: NetError["kind"],
  detail: string,
  options: NetErrorOptions,
): NetError {
  return new StacklessNetError(kind, detail, options) as unknown as NetError;
}

/**
 * The object behind {@linkcode stacklessNetError}. Not a subclass (that would
 * run the `Error` constructor): its prototype is chained to NetError's below.
 * `message`, `stack` and `cause` are accessors over private fields, so, as on
 * a real error, they are not enumerable own fields.
 */
class StacklessNetError {
  #message: string;
  #stack: string | undefined = undefined;
  #cause: unknown;
  // The class fields of NetError, in its order (after the Error constructor's).
  kind: NetError["kind"];
  op: string;
  address: string;
  timer: NetError["timer"];
  name = "NetError";

  constructor(kind: NetError["kind"], detail: string, options: NetErrorOptions) {
    const where = options.address ? `${options.op} "${options.address}"` : options.op;
    this.#message = `${where}: ${detail}`;
    this.#cause = options.cause;
    this.kind = kind;
    this.op = options.op;
    this.address = options.address ?? "";
    this.timer = options.timer;
  }

  get message(): string {
    return this.#message;
  }
  set message(value: string) {
    this.#message = value;
  }
  get stack(): string {
    return this.#stack ?? `${this.name}: ${this.#message}`;
  }
  set stack(value: string) {
    this.#stack = value;
  }
  get cause(): unknown {
    return this.#cause;
  }
  set cause(value: unknown) {
    this.#cause = value;
  }
}
Object.setPrototypeOf(StacklessNetError.prototype, NetError.prototype);
// `err.constructor` is NetError, as on a real one (inspect names it after it).
Object.defineProperty(StacklessNetError.prototype, "constructor", {
  value: NetError,
  writable: true,
  configurable: true,
});

/** `code` of a Node-style error (`ECONNREFUSED`, `EAI_AGAIN`, ...), or undefined. */
function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}

/** Raw runtime errors by class or code: [kind, detail]. The one table of them. */
function rawKind(err: unknown): [NetError["kind"], string] | undefined {
  const code = errorCode(err);
  if (err instanceof Deno.errors.ConnectionRefused || code === "ECONNREFUSED") {
    return ["refused", "connection refused"];
  }
  if (
    err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.ConnectionAborted ||
    code === "ECONNRESET" || code === "ECONNABORTED"
  ) return ["reset", "connection reset by peer"];
  if (err instanceof Deno.errors.BrokenPipe || code === "EPIPE") {
    return ["closed", "peer closed the connection before reading all data"];
  }
  if (code === "EHOSTUNREACH") return ["unreachable", "host unreachable (EHOSTUNREACH)"];
  if (err instanceof Deno.errors.NetworkUnreachable || code === "ENETUNREACH") {
    return ["unreachable", "network unreachable (ENETUNREACH)"];
  }
  if (code === "EACCES" || code === "EPERM") {
    return ["unreachable", `not permitted (${code}): a firewall rule or route prohibits it`];
  }
  if (err instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    return ["io", "address already in use (EADDRINUSE)"];
  }
  if (err instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") {
    return ["io", "address not available on this host (EADDRNOTAVAIL)"];
  }
  if (isFdExhausted(err)) {
    return ["io", "too many open files (EMFILE): raise ulimit -n or lower -c"];
  }
  return undefined;
}

function isLookupFailure(err: unknown): boolean {
  const code = errorCode(err);
  return (code !== undefined && (code.startsWith("EAI_") || code === "ENOTFOUND")) ||
    (err instanceof Error && /failed to lookup address|getaddrinfo/i.test(err.message));
}

function isTimeoutAbort(err: unknown): boolean {
  // The name first: `DOMException` is a lazy global in Deno, a getter call.
  return (err as { name?: unknown })?.name === "TimeoutError" && err instanceof DOMException;
}

/**
 * Turns any thrown value into a {@linkcode NetError} for `options.op` on
 * `options.address`. Our own errors ({@linkcode NetError},
 * {@linkcode Interrupted}, {@linkcode UsageError}, {@linkcode VerifyError})
 * pass through unchanged.
 *
 * @example An expired `-w` during the lookup
 * ```ts
 * import { toNetError } from "./net_errors.ts";
 * const err = toNetError(new DOMException("timed out", "TimeoutError"), {
 *   op: "lookup",
 *   address: "localhost",
 *   timer: "connect",
 *   timeoutMs: 1,
 *   flag: "-w",
 * });
 * console.log(err.message); // lookup "localhost": timed out after 1ms (-w)
 * ```
 */
export function toNetError(err: unknown, options: ToNetErrorOptions): Error {
  if (
    err instanceof NetError || err instanceof Interrupted || err instanceof UsageError ||
    err instanceof VerifyError
  ) return err;
  const { op } = options;
  const base = { op, address: options.address ?? "", cause: err };
  const make = options.stack === false ? stacklessNetError : newNetError;
  // By far the most common failure (every closed port of a sweep): straight
  // to the table, past the timeout, sandbox and lookup checks it cannot match.
  if (err instanceof Deno.errors.ConnectionRefused && op !== "lookup") {
    const [kind, detail] = rawKind(err)!;
    return make(kind, detail, base);
  }
  if (isTimeoutAbort(err)) {
    const limit = options.timeoutMs === undefined
      ? ""
      : ` after ${formatDuration(options.timeoutMs)}`;
    const flag = options.flag === undefined ? "" : ` (${options.flag})`;
    return make("timeout", `timed out${limit}${flag}`, {
      ...base,
      timer: options.timer ?? "connect",
    });
  }
  // Deno's sandbox throws NotCapable; a PermissionDenied carrying an errno
  // (EACCES from a `prohibit` route, EPERM from a local firewall) is the OS.
  const osDenial = err instanceof Deno.errors.PermissionDenied &&
    (errorCode(err) === "EACCES" || errorCode(err) === "EPERM");
  if (
    !osDenial &&
    (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied)
  ) {
    const grant = op === "lookup" ? "--allow-net (a name needs the name itself)" : `--allow-net`;
    return make(
      "denied",
      `denied by the permission sandbox: run with ${grant} or -P`,
      base,
    );
  }
  if (err instanceof Deno.errors.TimedOut || errorCode(err) === "ETIMEDOUT") {
    const kernel = options.kernel;
    const detail = kernel === undefined
      ? "the kernel gave up (ETIMEDOUT, tcp_syn_retries)"
      : `the kernel gave up after ${kernel.synRetries} SYN retries (about ${
        formatDuration(kernel.maxConnectMs)
      }, tcp_syn_retries)`;
    return make("timeout", detail, { ...base, timer: "kernel" });
  }
  if (op === "lookup" || isLookupFailure(err)) {
    const code = errorCode(err);
    if (code === "EPERM") {
      // Deno's sandbox refusing the lookup surfaces as EPERM from getaddrinfo.
      return make(
        "denied",
        "denied by the permission sandbox: run with --allow-net (a name needs the name itself) or -P",
        base,
      );
    }
    const message = err instanceof Error ? err.message : "";
    if (code === "EAI_AGAIN" || /temporary failure in name resolution/i.test(message)) {
      return make("dns", "the resolver did not answer (EAI_AGAIN)", base);
    }
    return make("dns", "name resolution failed (no such host)", base);
  }
  const raw = rawKind(err);
  if (raw !== undefined) return make(raw[0], raw[1], base);
  const message = err instanceof Error ? err.message : String(err);
  return make("io", message, base);
}

function newNetError(kind: NetError["kind"], detail: string, options: NetErrorOptions): NetError {
  return new NetError(kind, detail, options);
}

/** Options of {@linkcode deadlineError}. */
export interface DeadlineErrorOptions {
  /** The flag that set the deadline, named in the message. @default {undefined} */
  flag?: string;
  /** For `io`: what waited (`a read`, `a write`, `a write to the output`). @default {"an operation"} */
  waiting?: string;
}

/**
 * The error of a per-connection deadline that fired, naming the deadline, its
 * length and the flag that set it: one vocabulary for the session pump and the
 * readiness loop.
 *
 * @example
 * ```ts
 * import { deadlineError } from "./net_errors.ts";
 * console.log(deadlineError("connect", 2000, "127.0.0.1:80").message);
 * // connect "127.0.0.1:80": timed out after 2s
 * console.log(deadlineError("idle", 500, "127.0.0.1:80", { flag: "--idle-timeout" }).message);
 * // session "127.0.0.1:80": idle timeout: no traffic for 500ms (--idle-timeout)
 * ```
 */
export function deadlineError(
  name: DeadlineName | "io",
  ms: number,
  address: string,
  options: DeadlineErrorOptions = {},
): NetError {
  const limit = formatDuration(ms);
  const flag = options.flag === undefined ? "" : ` (${options.flag})`;
  const [op, detail] = DEADLINE_TEXT[name](limit, options.waiting ?? "an operation");
  return new NetError("timeout", `${detail}${flag}`, { op, address, timer: name });
}

const DEADLINE_TEXT: Record<
  DeadlineName | "io",
  (limit: string, waiting: string) => [string, string]
> = {
  connect: (limit) => ["connect", `timed out after ${limit}`],
  "first-byte": (limit) => ["read", `first-byte timeout: no data for ${limit}`],
  idle: (limit) => ["session", `idle timeout: no traffic for ${limit}`],
  io: (limit, waiting) => ["session", `io timeout: ${waiting} waited for ${limit}`],
  total: (limit) => ["session", `total timeout: took longer than ${limit}`],
};

/**
 * The few error classes that tcpc callers handle, and the one table that maps
 * each failure kind to a stable exit code (README repeats it).
 *
 * @module
 */

/** What went wrong, as a class of failure. Each kind has one exit code. */
export type ErrorKind =
  | "refused"
  | "reset"
  | "unreachable"
  | "closed"
  | "io"
  | "usage"
  | "dns"
  | "timeout"
  | "denied"
  | "verify"
  | "tls"
  | "proxy"
  | "interrupted"
  | "hangup"
  | "terminated";

/**
 * Exit code of every error kind: the contract scripts rely on.
 *
 * @example Look up an exit code
 * ```ts
 * import { EXIT_CODES } from "./errors.ts";
 * console.log(EXIT_CODES.timeout); // 4
 * ```
 */
export const EXIT_CODES: Readonly<Record<ErrorKind | "ok", number>> = {
  ok: 0,
  refused: 1,
  reset: 1,
  unreachable: 1,
  closed: 1,
  io: 1,
  usage: 2,
  dns: 3,
  timeout: 4,
  denied: 5,
  verify: 6,
  tls: 7,
  proxy: 8,
  interrupted: 130,
  hangup: 129,
  terminated: 143,
};

/**
 * Bad input from the command line, found before any socket opens. Exit code 2.
 *
 * @example Reject a port
 * ```ts
 * import { UsageError } from "./errors.ts";
 * throw new UsageError(`invalid port "0": must be 1-65535`);
 * ```
 */
export class UsageError extends Error {
  /** Always `"usage"`. */
  readonly kind = "usage" as const;
  /** Builds the error with a one-line message naming the bad value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Which deadline fired, in a timeout's `timer` (README lists them all):
 * - `connect`: `-w`, resolve and connect (and the proxy and TLS handshakes);
 * - `kernel`: no deadline of ours; the kernel gave up (tcp_syn_retries);
 * - `first-byte`: `--first-byte-timeout`;
 * - `idle`: `-i` (no byte moved either way);
 * - `io`: `-t` on one read or write (connect, listen);
 * - `reply`: `-t` on one reply (echo, probe, dialog steps);
 * - `eof`: `-t` waiting for the peer's EOF after our half-close (echo);
 * - `total`: a per-connection total (probe `-t`, ping);
 * - `deadline`: `--deadline`, the whole run.
 */
export type TimerName =
  | "connect"
  | "kernel"
  | "first-byte"
  | "idle"
  | "io"
  | "reply"
  | "eof"
  | "total"
  | "deadline";

/**
 * Every timer name, in the order README lists them.
 *
 * @example
 * ```ts
 * import { TIMER_NAMES } from "./errors.ts";
 * console.log(TIMER_NAMES.includes("idle")); // true
 * ```
 */
export const TIMER_NAMES: readonly TimerName[] = [
  "connect",
  "kernel",
  "first-byte",
  "idle",
  "io",
  "reply",
  "eof",
  "total",
  "deadline",
];

/** Options of {@linkcode NetError}. */
export interface NetErrorOptions {
  /**
   * The operation that failed: `lookup`, `connect`, `proxy`, `tls`, `read`,
   * `write`, `session`, `accept`, `listen`, `run`.
   */
  op: string;
  /** The address the operation was aimed at, as `host:port`. @default {""} */
  address?: string;
  /** For timeouts: which deadline fired. @default {undefined} */
  timer?: TimerName;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A failure on the network, shaped like Go's `net.OpError`: the operation, the
 * address, a kind that maps to an exit code, and the cause.
 *
 * @example Describe a refused connect
 * ```ts
 * import { NetError } from "./errors.ts";
 * const err = new NetError("refused", "connection refused", { op: "connect", address: "127.0.0.1:9" });
 * console.log(err.message); // connect "127.0.0.1:9": connection refused
 * ```
 */
export class NetError extends Error {
  /** The class of failure. */
  readonly kind: ErrorKind;
  /** The operation that failed. */
  readonly op: string;
  /** The address the operation was aimed at. */
  readonly address: string;
  /** For timeouts, the deadline that fired. */
  readonly timer: TimerName | undefined;

  /** Builds `op "address": detail`. */
  constructor(kind: ErrorKind, detail: string, options: NetErrorOptions) {
    const where = options.address ? `${options.op} "${options.address}"` : options.op;
    super(`${where}: ${detail}`, { cause: options.cause });
    this.name = "NetError";
    this.kind = kind;
    this.op = options.op;
    this.address = options.address ?? "";
    this.timer = options.timer;
  }

  /** True when a deadline, ours or the kernel's, ended the operation. */
  timeout(): boolean {
    return this.kind === "timeout";
  }
}

/**
 * A peer answered, but not what was expected. Exit code 6.
 *
 * @example Report a mismatch
 * ```ts
 * import { VerifyError } from "./errors.ts";
 * throw new VerifyError(`reply to message 3 differs at byte 17`);
 * ```
 */
export class VerifyError extends Error {
  /** Always `"verify"`. */
  readonly kind = "verify" as const;
  /** Builds the error. */
  constructor(message: string) {
    super(message);
    this.name = "VerifyError";
  }
}

/**
 * The process was asked to stop (SIGINT -> exit 130, SIGHUP -> 129, SIGTERM -> 143).
 * `main.ts` aborts the root signal with it.
 *
 * @example
 * ```ts
 * import { Interrupted } from "./errors.ts";
 * const root = new AbortController();
 * root.abort(new Interrupted("SIGINT"));
 * ```
 */
export class Interrupted extends Error {
  /** `interrupted` for SIGINT, `hangup` for SIGHUP, `terminated` for SIGTERM. */
  readonly kind: "interrupted" | "hangup" | "terminated";
  /** Builds the error for a signal name. */
  constructor(signal: "SIGINT" | "SIGTERM" | "SIGHUP") {
    super(`interrupted by ${signal}`);
    this.name = "Interrupted";
    this.kind = signal === "SIGTERM"
      ? "terminated"
      : signal === "SIGHUP"
      ? "hangup"
      : "interrupted";
  }
}

/**
 * The kind of any thrown value: our own classes carry it, a few runtime errors
 * are recognised, anything else is `io`.
 *
 * @example Classify a refused connect
 * ```ts
 * import { errorKind } from "./errors.ts";
 * console.log(errorKind(new Deno.errors.ConnectionRefused("x"))); // refused
 * ```
 */
export function errorKind(err: unknown): ErrorKind {
  if (
    err instanceof NetError || err instanceof UsageError || err instanceof VerifyError ||
    err instanceof Interrupted
  ) {
    return err.kind;
  }
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return "denied";
  }
  if (err instanceof Deno.errors.ConnectionRefused) return "refused";
  if (err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.BrokenPipe) {
    return "reset";
  }
  if (err instanceof Deno.errors.ConnectionAborted) return "reset";
  if (err instanceof Deno.errors.NetworkUnreachable) return "unreachable";
  if (err instanceof Deno.errors.TimedOut) return "timeout";
  if (err instanceof DOMException && err.name === "TimeoutError") return "timeout";
  const code = (err as { code?: unknown })?.code;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return "unreachable";
  return "io";
}

/**
 * The exit code for a thrown value, from {@linkcode EXIT_CODES}.
 *
 * @example
 * ```ts
 * import { exitCodeFor, UsageError } from "./errors.ts";
 * console.log(exitCodeFor(new UsageError("bad"))); // 2
 * ```
 */
export function exitCodeFor(err: unknown): number {
  return EXIT_CODES[errorKind(err)];
}

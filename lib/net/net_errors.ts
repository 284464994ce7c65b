/**
 * Classification of what a connect, read or write on the readiness loop threw
 * into a {@linkcode NetError} with the operation and address first, and the
 * timeout errors of its deadlines.
 *
 * @module
 */

import { errorKind, Interrupted, NetError } from "../errors.ts";
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
  const code = (err as { code?: unknown })?.code;
  if (code === "EMFILE" || code === "ENFILE") return true;
  return err instanceof Error && /too many open files/i.test(err.message);
}

const DETAIL: Readonly<Record<string, string>> = {
  refused: "connection refused",
  reset: "connection reset by peer",
  unreachable: "network or host unreachable",
};

/**
 * Turns a thrown value into a {@linkcode NetError} for `op` on `address`.
 * NetErrors and {@linkcode Interrupted} pass through unchanged.
 *
 * @example Classify a refused connect
 * ```ts
 * import { classifyNetError } from "./net_errors.ts";
 * const err = classifyNetError(new Deno.errors.ConnectionRefused("x"), "connect", "127.0.0.1:9");
 * console.log((err as Error).message); // connect "127.0.0.1:9": connection refused
 * ```
 */
export function classifyNetError(err: unknown, op: string, address: string): unknown {
  if (err instanceof NetError || err instanceof Interrupted) return err;
  const options = { op, address, cause: err };
  if (err instanceof Error && /failed to lookup address/i.test(err.message)) {
    return new NetError("dns", "name resolution failed (no such host)", options);
  }
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return new NetError(
      "denied",
      `denied by the permission sandbox: run with --allow-net=${address} (or -P)`,
      options,
    );
  }
  if (err instanceof Deno.errors.TimedOut) {
    return new NetError("timeout", "the kernel gave up (ETIMEDOUT, tcp_syn_retries)", {
      ...options,
      timer: "kernel",
    });
  }
  if (isFdExhausted(err)) {
    return new NetError("io", "too many open files (EMFILE): raise ulimit -n or lower -c", options);
  }
  if (err instanceof Deno.errors.BrokenPipe) {
    return new NetError("closed", "peer closed the connection before reading all data", options);
  }
  const kind = errorKind(err);
  const message = DETAIL[kind] ?? (err instanceof Error ? err.message : String(err));
  return new NetError(kind === "timeout" ? "io" : kind, message, options);
}

/**
 * The error of a deadline that fired, naming the deadline and its length.
 *
 * @example
 * ```ts
 * import { deadlineError } from "./net_errors.ts";
 * console.log(deadlineError("connect", 2000, "127.0.0.1:80").message);
 * // connect "127.0.0.1:80": timed out after 2s
 * ```
 */
export function deadlineError(name: DeadlineName, ms: number, address: string): NetError {
  const limit = formatDuration(ms);
  switch (name) {
    case "connect":
      return new NetError("timeout", `timed out after ${limit}`, {
        op: "connect",
        address,
        timer: "connect",
      });
    case "first-byte":
      return new NetError("timeout", `first-byte timeout: no data for ${limit}`, {
        op: "read",
        address,
        timer: "first-byte",
      });
    case "idle":
      return new NetError("timeout", `idle timeout: no traffic for ${limit}`, {
        op: "session",
        address,
        timer: "idle",
      });
    case "total":
      return new NetError("timeout", `total timeout: took longer than ${limit}`, {
        op: "session",
        address,
        timer: "total",
      });
  }
}

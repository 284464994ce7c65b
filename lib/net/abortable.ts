/**
 * Waiting on something that cannot be cancelled (a lookup, a FIFO's open)
 * without outliving a signal, after Deno std's `async/abortable.ts`.
 *
 * @module
 */

/**
 * Resolves with `promise`, or rejects with `signal.reason` as soon as the
 * signal aborts. The operation itself goes on; a value it resolves with after
 * the abort is handed to `onLate` (e.g. to close a file that opened too late).
 *
 * @example Give up on a lookup after 1 s
 * ```ts
 * import { lookup } from "node:dns/promises";
 * import { abortable } from "./abortable.ts";
 * const found = await abortable(lookup("localhost"), AbortSignal.timeout(1000));
 * console.log(found.address);
 * ```
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onLate?: (value: T) => void,
): Promise<T> {
  if (onLate !== undefined) {
    promise.then((value) => {
      if (signal.aborted) onLate(value);
    }, () => {});
  }
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort)
  );
}

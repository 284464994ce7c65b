/**
 * The whole-run deadline (`--deadline`) as a child of the root signal.
 *
 * @module
 */

import { NetError } from "../errors.ts";
import { formatDuration } from "../report/duration.ts";

/** A signal that aborts with the parent or when the deadline passes; dispose to clear the timer. */
export interface DeadlineSignal extends Disposable {
  /** Aborted by the parent (its reason) or by the deadline (a timeout {@linkcode NetError}). */
  signal: AbortSignal;
}

/**
 * Derives a signal that also aborts `ms` from now with a timeout error naming
 * `--deadline`. Without `ms` it is the parent itself.
 *
 * @example
 * ```ts
 * import { deadlineSignal } from "./deadline.ts";
 * using deadline = deadlineSignal(new AbortController().signal, 5000);
 * console.log(deadline.signal.aborted); // false
 * ```
 */
export function deadlineSignal(parent: AbortSignal, ms: number | undefined): DeadlineSignal {
  if (ms === undefined) return { signal: parent, [Symbol.dispose]: () => {} };
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(
      new NetError(
        "timeout",
        `took longer than ${formatDuration(ms)} (--deadline)`,
        {
          op: "run",
          timer: "deadline",
        },
      ),
    );
  }, ms);
  return {
    signal: AbortSignal.any([parent, controller.signal]),
    [Symbol.dispose]: () => clearTimeout(timer),
  };
}

/**
 * The `error` field of JSON records.
 *
 * @module
 */

import { type ErrorKind, errorKind } from "../errors.ts";
import { escapeText } from "./safe_text.ts";

/** A failure as JSON: its kind (see the exit code table) and a one-line message. */
export interface ErrorRecord {
  /** The failure class. */
  kind: ErrorKind;
  /** The one-line message, control characters escaped. */
  message: string;
  /** For timeouts, which deadline fired (`connect`, `first-byte`, `idle`, `io`, `deadline`, `kernel`). */
  timer?: string;
}

/**
 * Describes any thrown value for a JSON record.
 *
 * @example
 * ```ts
 * import { errorRecord } from "./error_record.ts";
 * console.log(errorRecord(new Deno.errors.ConnectionRefused("refused")).kind); // refused
 * ```
 */
export function errorRecord(err: unknown): ErrorRecord {
  const record: ErrorRecord = {
    kind: errorKind(err),
    // Messages quote network bytes already escaped: keep their backslashes as they are.
    message: escapeText(err instanceof Error ? err.message : String(err), { keepBackslash: true }),
  };
  const timer = (err as { timer?: unknown })?.timer;
  if (typeof timer === "string") record.timer = timer;
  return record;
}

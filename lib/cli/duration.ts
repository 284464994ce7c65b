/**
 * Parsing of durations given on the command line.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { quoteValue } from "./quote.ts";

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)?$/;

/**
 * Parses `250ms`, `2s`, `1.5s`, `1m`, `1h` or a bare number of seconds into
 * milliseconds. Zero is allowed (`0` means "at once"); negative, empty,
 * non-numeric or unit-less garbage throws a {@linkcode UsageError} naming the
 * flag and the value.
 *
 * @example Parse a timeout
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * console.log(parseDuration("1.5s", "--timeout")); // 1500
 * ```
 */
export function parseDuration(text: string, flag: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new UsageError(
      `invalid duration ${
        quoteValue(text)
      } for ${flag}: use e.g. 250ms, 2s, 1.5s, 1m or a number of seconds`,
    );
  }
  // DURATION accepts only the units of UNITS.
  const ms = Number(match[1]) * UNITS[match[2] ?? "s"]!;
  // setTimeout clamps larger values to 1 ms: refuse them instead of firing at once.
  if (!Number.isFinite(ms) || ms > 2_147_483_647) {
    throw new UsageError(`invalid duration ${quoteValue(text)} for ${flag}: at most 24 days`);
  }
  return ms;
}

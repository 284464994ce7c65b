/**
 * How numbers are rounded in every JSON record: times to the microsecond
 * (at most three decimals in ms, integers in us), rates and percentages to
 * one decimal. Finer digits are timer noise, not information.
 *
 * @module
 */

/**
 * Milliseconds rounded to the microsecond; null stays null.
 *
 * @example
 * ```ts
 * import { roundMs } from "./numbers.ts";
 * console.log(roundMs(1.23456789)); // 1.235
 * console.log(roundMs(null)); // null
 * ```
 */
export function roundMs<T extends number | null>(ms: T): T {
  return (ms === null ? null : Math.round(ms * 1000) / 1000) as T;
}

/**
 * Microseconds rounded to a whole microsecond; null stays null.
 *
 * @example
 * ```ts
 * import { roundUs } from "./numbers.ts";
 * console.log(roundUs(885.6666)); // 886
 * ```
 */
export function roundUs<T extends number | null>(us: T): T {
  return (us === null ? null : Math.round(us)) as T;
}

/**
 * A rate (per second) or a percentage rounded to one decimal; null stays null.
 *
 * @example
 * ```ts
 * import { roundRate } from "./numbers.ts";
 * console.log(roundRate(464.2164948453608)); // 464.2
 * console.log(roundRate(100 / 3)); // 33.3
 * ```
 */
export function roundRate<T extends number | null>(value: T): T {
  return (value === null ? null : Math.round(value * 10) / 10) as T;
}

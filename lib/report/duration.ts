/**
 * Durations rendered for people.
 *
 * @module
 */

/**
 * Renders milliseconds for people: `250ms`, `2s`, `1.5s`, `2m7s`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * console.log(formatDuration(127000)); // 2m7s
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) {
    const rounded = Math.round(ms * 10) / 10;
    if (rounded < 1000) return `${rounded}ms`;
  }
  // Round once, to the tenth of a second shown, then split: rounding each part
  // on its own turns 119970 ms into "1m60s" instead of "2m".
  const tenths = Math.round(ms / 100);
  if (tenths < 600) return `${tenths / 10}s`;
  const minutes = Math.floor(tenths / 600);
  const seconds = (tenths - minutes * 600) / 10;
  if (seconds) return `${minutes}m${seconds}s`;
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes - hours * 60;
  return rest ? `${hours}h${rest}m` : `${hours}h`;
}

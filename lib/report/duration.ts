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
  if (ms < 1000) return `${Math.round(ms * 10) / 10}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  if (ms >= 3_600_000 && ms % 60_000 === 0) {
    const hours = Math.floor(ms / 3_600_000);
    const rest = (ms - hours * 3_600_000) / 60_000;
    return rest ? `${hours}h${rest}m` : `${hours}h`;
  }
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms - minutes * 60_000) / 100) / 10;
  return seconds ? `${minutes}m${seconds}s` : `${minutes}m`;
}

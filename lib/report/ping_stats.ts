/**
 * Round-trip statistics of `tcpc ping`, computed like ping(8): min, avg, max
 * and mdev (the standard deviation, sqrt(mean(x^2) - mean(x)^2)), and loss.
 *
 * @module
 */

/** Summary of a series of attempts; times in ms, null when nothing succeeded. */
export interface PingStats {
  /** Attempts made. */
  attempts: number;
  /** Attempts that connected. */
  succeeded: number;
  /** Failed attempts, percent of all (0-100). */
  lossPercent: number;
  /** Fastest connect. */
  minMs: number | null;
  /** Mean connect time. */
  avgMs: number | null;
  /** Slowest connect. */
  maxMs: number | null;
  /** Standard deviation of connect times (ping's mdev). */
  mdevMs: number | null;
}

/**
 * Summarises connect times (`null` for a failed attempt).
 *
 * @example
 * ```ts
 * import { pingStats } from "./ping_stats.ts";
 * const stats = pingStats([1, 3, null]);
 * console.log(stats.avgMs, stats.mdevMs, Math.round(stats.lossPercent)); // 2 1 33
 * ```
 */
export function pingStats(times: readonly (number | null)[]): PingStats {
  const ok = times.filter((t): t is number => t !== null);
  const attempts = times.length;
  const lossPercent = attempts === 0 ? 0 : (100 * (attempts - ok.length)) / attempts;
  if (ok.length === 0) {
    return {
      attempts,
      succeeded: 0,
      lossPercent,
      minMs: null,
      avgMs: null,
      maxMs: null,
      mdevMs: null,
    };
  }
  let sum = 0;
  let sumSquares = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const t of ok) {
    sum += t;
    sumSquares += t * t;
    min = Math.min(min, t);
    max = Math.max(max, t);
  }
  const avg = sum / ok.length;
  const mdev = Math.sqrt(Math.max(0, sumSquares / ok.length - avg * avg));
  return {
    attempts,
    succeeded: ok.length,
    lossPercent,
    minMs: min,
    avgMs: avg,
    maxMs: max,
    mdevMs: mdev,
  };
}

/**
 * The two summary lines ping(8) prints, for a TCP target.
 *
 * @example
 * ```ts
 * import { formatPingStats, pingStats } from "./ping_stats.ts";
 * console.log(formatPingStats(pingStats([1, 3]), "127.0.0.1:80").join("\n"));
 * // --- 127.0.0.1:80 tcp ping statistics ---
 * // 2 attempts, 2 connected, 0% loss
 * // rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms
 * ```
 */
export function formatPingStats(stats: PingStats, address: string): string[] {
  const loss = Number.isInteger(stats.lossPercent)
    ? String(stats.lossPercent)
    : stats.lossPercent.toFixed(1);
  const lines = [
    `--- ${address} tcp ping statistics ---`,
    `${stats.attempts} attempts, ${stats.succeeded} connected, ${loss}% loss`,
  ];
  if (stats.minMs !== null) {
    // pingStats() sets the four figures together (all null without a success).
    const f = (ms: number | null) => ms!.toFixed(3);
    lines.push(
      `rtt min/avg/max/mdev = ${f(stats.minMs)}/${f(stats.avgMs)}/${f(stats.maxMs)}/${
        f(stats.mdevMs)
      } ms`,
    );
  }
  return lines;
}

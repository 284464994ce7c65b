/**
 * Probe metrics fixtures for the exposition (Prometheus) tests.
 *
 * @module
 */

import type { ProbeMetrics } from "../../lib/report/prometheus.ts";

/**
 * The metrics of an open redis port on 127.0.0.1 that answered (its first byte at 1.1 ms).
 *
 * @example A closed port's metrics from it
 * ```ts
 * const closed: ProbeMetrics = { ...OPEN_METRICS, success: false, connectMs: null };
 * ```
 */
export const OPEN_METRICS: Readonly<ProbeMetrics> = {
  target: "127.0.0.1:6379",
  success: true,
  durationMs: 2.5,
  resolveMs: 0,
  connectMs: 0.4,
  tlsMs: null,
  firstByteMs: 1.1,
  ipProtocol: 4,
  tls: null,
  failedDueToRegex: false,
  failure: null,
};

/**
 * The records of `tcpc probe` and their rendering: one JSON Lines record per
 * target, or a table for people.
 *
 * @module
 */

import type { ProxyFacts, TlsFacts } from "../facts.ts";
import type { ErrorRecord } from "./error_record.ts";
import { escapeText } from "./safe_text.ts";

/**
 * What a probe found:
 * - `open`: connected (and, with dialog steps, every step sent or matched);
 * - `closed`: refused (RST) or reset during connect;
 * - `timeout`: no answer within `-w`;
 * - `unreachable`: no route (ENETUNREACH, EHOSTUNREACH);
 * - `dns-error`: the host name did not resolve;
 * - `mismatch`: connected, but a dialog step did not complete: an expect did
 *   not match in time (or before the peer closed), or a send was not sent;
 * - `tls`: the TLS handshake or verification failed, or the certificate
 *   expires within `--cert-days`;
 * - `proxy`: the proxy could not be reached, refused us or failed its handshake;
 * - `error`: anything else (e.g. no file descriptor left at all).
 */
export type ProbeState =
  | "open"
  | "closed"
  | "timeout"
  | "unreachable"
  | "dns-error"
  | "mismatch"
  | "tls"
  | "proxy"
  | "error";

/**
 * The state of a connect that failed with an error of `kind` (see
 * lib/errors.ts): what `probe` and `ping` report for it.
 *
 * @example
 * ```ts
 * import { failedConnectState } from "./probe_table.ts";
 * console.log(failedConnectState("refused")); // closed
 * ```
 */
export function failedConnectState(kind: string): ProbeState {
  switch (kind) {
    case "refused":
    case "reset":
      return "closed";
    case "timeout":
      return "timeout";
    case "unreachable":
      return "unreachable";
    case "dns":
      return "dns-error";
    case "tls":
      return "tls";
    case "proxy":
      return "proxy";
    default:
      return "error";
  }
}

/**
 * Every state, in the order the summary lists them.
 *
 * @example
 * ```ts
 * import { PROBE_STATES } from "./probe_table.ts";
 * console.log(PROBE_STATES);
 * ```
 */
export const PROBE_STATES: readonly ProbeState[] = [
  "open",
  "closed",
  "timeout",
  "unreachable",
  "dns-error",
  "mismatch",
  "tls",
  "proxy",
  "error",
];

/** One JSON Lines record of `tcpc probe` (schema in README). */
export interface ProbeRecord {
  /** The target as `host:port` (brackets for IPv6). */
  target: string;
  /** Host as given. */
  host: string;
  /** Port. */
  port: number;
  /** The address connected to (`ip:port`), or null when the name did not resolve. */
  address: string | null;
  /** What was found. */
  state: ProbeState;
  /** Times in ms; null when the phase did not happen. */
  timings: {
    /** Name resolution of the host (shared by its ports); 0 for an IP literal. */
    resolveMs: number | null;
    /** TCP connect (to the proxy when there is one). */
    connectMs: number | null;
    /** Proxy connect and handshake until the tunnel was ready; null without a proxy. */
    proxyMs: number | null;
    /** TLS handshake (STARTTLS dialog included); null without TLS. */
    tlsMs: number | null;
    /** Connected to the first byte of the reply. */
    firstByteMs: number | null;
    /** Connect start to the end of the probe. */
    totalMs: number;
  };
  /** Bytes written (send steps). */
  bytesSent: number;
  /** Bytes read (expect steps). */
  bytesReceived: number;
  /** The start of the reply (at most 256 bytes), escaped; null when nothing was read. */
  reply: string | null;
  /** The dialog step that failed (1-based) when the state is `mismatch`, else null. */
  step: number | null;
  /**
   * What that step had received (bytes not consumed by an earlier step's
   * match; at most 256 bytes, escaped; `""` for nothing), else null.
   */
  received: string | null;
  /** What TLS learned (also when verification failed), or null without TLS. */
  tls: TlsFacts | null;
  /** The proxy gone through, or null. */
  proxy: ProxyFacts | null;
  /** What went wrong, or null. */
  error: ErrorRecord | null;
}

/**
 * The table header for targets up to `targetWidth` characters wide.
 *
 * @example
 * ```ts
 * import { formatProbeHeader } from "./probe_table.ts";
 * console.log(formatProbeHeader(14)); // TARGET          STATE        CONNECT  DETAIL
 * ```
 */
export function formatProbeHeader(targetWidth: number): string {
  return `${"TARGET".padEnd(targetWidth)}  ${"STATE".padEnd(11)}  ${"CONNECT".padStart(7)}  DETAIL`;
}

function ms(value: number | null): string {
  if (value === null) return "-";
  return value < 10 ? `${value.toFixed(2)}ms` : `${Math.round(value)}ms`;
}

/**
 * One table row: target, state, connect time, and the error or reply.
 *
 * @example
 * ```ts
 * import { formatProbeRow } from "./probe_table.ts";
 * console.log(formatProbeRow({
 *   target: "127.0.0.1:22", host: "127.0.0.1", port: 22, address: "127.0.0.1:22",
 *   state: "open",
 *   timings: {
 *     resolveMs: 0, connectMs: 0.2, proxyMs: null, tlsMs: null, firstByteMs: null, totalMs: 0.3,
 *   },
 *   bytesSent: 0, bytesReceived: 0, reply: null, step: null, received: null,
 *   tls: null, proxy: null, error: null,
 * }, 14));
 * ```
 */
export function formatProbeRow(record: ProbeRecord, targetWidth: number): string {
  const detail = record.error !== null
    ? record.error.message
    : record.reply !== null
    ? `reply "${record.reply}"`
    : "";
  return `${escapeText(record.target).padEnd(targetWidth)}  ${record.state.padEnd(11)}  ${
    ms(record.timings.connectMs).padStart(7)
  }  ${detail}`.trimEnd();
}

/**
 * The closing line: how many targets ended in each state.
 *
 * @example
 * ```ts
 * import { formatProbeSummary } from "./probe_table.ts";
 * console.log(formatProbeSummary({ open: 2, closed: 1 }, 1234));
 * // 3 targets in 1.2s: 2 open, 1 closed
 * ```
 */
export function formatProbeSummary(
  counts: Partial<Record<ProbeState, number>>,
  elapsedMs: number,
): string {
  const total = PROBE_STATES.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
  const parts = PROBE_STATES.filter((state) => (counts[state] ?? 0) > 0).map((state) =>
    `${counts[state]} ${state}`
  );
  const elapsed = elapsedMs < 1000
    ? `${Math.round(elapsedMs)}ms`
    : `${(elapsedMs / 1000).toFixed(1)}s`;
  return `${total} target${total === 1 ? "" : "s"} in ${elapsed}: ${parts.join(", ") || "none"}`;
}

/**
 * The Nagios plugin status line, in the shapes the real `check_tcp`
 * (monitoring-plugins) prints, so that Nagios/Icinga rules written for it keep
 * working:
 *
 * ```
 * TCP OK - 0.012 second response time on HOST port PORT|time=0.012345s;;;0.000000;10.000000
 * TCP WARNING - Unexpected response from host/socket: RECEIVED|time=...
 * connect to address HOST and port PORT: Connection refused
 * CRITICAL - Socket timeout after 10 seconds
 * No data received from host
 * ```
 *
 * Exit codes follow the plugin API: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
 * (Nagios Plugin Development Guidelines, "Plugin Return Codes").
 *
 * @module
 */

/** A Nagios state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also the exit code). */
export type NagiosState = 0 | 1 | 2 | 3;

/** A state a user may map refusals and mismatches to (`--refused-state`, `--mismatch-state`). */
export type NagiosStateName = "ok" | "warning" | "critical";

/**
 * State names as the status line prints them, by state.
 *
 * @example
 * ```ts
 * import { NAGIOS_STATE_TEXT } from "./nagios.ts";
 * console.log(NAGIOS_STATE_TEXT[2]); // CRITICAL
 * ```
 */
export const NAGIOS_STATE_TEXT: Readonly<Record<NagiosState, string>> = {
  0: "OK",
  1: "WARNING",
  2: "CRITICAL",
  3: "UNKNOWN",
};

/**
 * The state a state name stands for.
 *
 * @example
 * ```ts
 * import { nagiosState } from "./nagios.ts";
 * console.log(nagiosState("warning")); // 1
 * ```
 */
export function nagiosState(name: NagiosStateName): NagiosState {
  return name === "ok" ? 0 : name === "warning" ? 1 : 2;
}

/** How a check ended, before thresholds and state mapping. */
export type NagiosResult =
  /** Connected and every step matched; `received` (escaped) is shown in brackets. */
  | { type: "ok"; received: string | null }
  /** The connect was refused. */
  | { type: "refused" }
  /** A deadline fired; `where` (e.g. `step 2 (--expect "+OK")`) is added when set. */
  | { type: "timeout"; timeoutMs: number; where?: string }
  /** An expect step did not match; `received` is escaped. */
  | { type: "mismatch"; received: string; where?: string }
  /** The peer closed before sending anything an expect step waited for. */
  | { type: "no-data" }
  /** Any other network failure (reset, unreachable, TLS, ...): CRITICAL. */
  | { type: "error"; message: string }
  /** The check could not run (bad arguments, a name that does not resolve): UNKNOWN. */
  | { type: "unknown"; message: string };

/** One extra perfdata value (a phase or step time). */
export interface NagiosPerf {
  /** Perfdata label, e.g. `tls` or `step2` (no spaces, quotes or `=`). */
  label: string;
  /** The time, ms. */
  ms: number;
}

/** Everything the status line says. */
export interface NagiosOutcome {
  /** Service label, `TCP` or the preset's (`SMTP`, `REDIS`). */
  label: string;
  /** The host as given. */
  host: string;
  /** The port. */
  port: number;
  /** The result. */
  result: NagiosResult;
  /** Response time (connect through the last step), ms; null when nothing was measured. */
  responseMs: number | null;
  /** The timeout, ms: the perfdata's max. */
  timeoutMs: number;
  /** Extra perfdata after `time=` (tls, steps), in order. */
  extraPerf: NagiosPerf[];
}

/** Options of {@linkcode renderNagios}. */
export interface RenderNagiosOptions {
  /** Response time above which the state is WARNING, ms. @default {undefined} */
  warningMs?: number;
  /** Response time above which the state is CRITICAL, ms. @default {undefined} */
  criticalMs?: number;
  /** State of a refused connect (`--refused-state`). @default {"critical"} */
  refusedState?: NagiosStateName;
  /** State of a mismatch (`--mismatch-state`). @default {"warning"} */
  mismatchState?: NagiosStateName;
}

/** The state and the one line a plugin prints. */
export interface NagiosLine {
  /** The state, which is also the exit code. */
  state: NagiosState;
  /** The status line with perfdata. */
  line: string;
}

const seconds6 = (ms: number) => (ms / 1000).toFixed(6);

/** `|` ends the status text in the plugin API: network text must not contain it. */
function safe(text: string): string {
  return text.replaceAll("|", "\\x7c");
}

/**
 * The status line and state of one check, in check_tcp's shapes. Response-time
 * thresholds apply when the result is OK (including a mismatch mapped to ok),
 * as check_tcp does: CRITICAL when above `criticalMs`, else WARNING when
 * above `warningMs`.
 *
 * @example An open port
 * ```ts
 * import { renderNagios } from "./nagios.ts";
 * const { state, line } = renderNagios({
 *   label: "TCP",
 *   host: "127.0.0.1",
 *   port: 22,
 *   result: { type: "ok", received: null },
 *   responseMs: 12.345,
 *   timeoutMs: 10_000,
 *   extraPerf: [],
 * });
 * console.log(state, line);
 * // 0 TCP OK - 0.012 second response time on 127.0.0.1 port 22|time=0.012345s;;;0.000000;10.000000
 * ```
 */
export function renderNagios(
  outcome: NagiosOutcome,
  options: RenderNagiosOptions = {},
): NagiosLine {
  const { label, host, port, result } = outcome;
  const threshold = (ms: number | undefined) => ms === undefined ? "" : seconds6(ms);
  const max = seconds6(outcome.timeoutMs);
  const perf = () => {
    const time = outcome.responseMs ?? 0;
    const parts = [
      `time=${seconds6(time)}s;${threshold(options.warningMs)};${
        threshold(options.criticalMs)
      };0.000000;${max}`,
      ...outcome.extraPerf.map((p) => `${p.label}=${seconds6(p.ms)}s;;;0.000000;${max}`),
    ];
    return parts.join(" ");
  };
  const byTime = (base: NagiosState): NagiosState => {
    if (base !== 0 || outcome.responseMs === null) return base;
    if (options.criticalMs !== undefined && outcome.responseMs > options.criticalMs) return 2;
    if (options.warningMs !== undefined && outcome.responseMs > options.warningMs) return 1;
    return 0;
  };
  const where = (text: string | undefined) => text === undefined ? "" : ` at ${safe(text)}`;
  switch (result.type) {
    case "ok": {
      const state = byTime(0);
      const shown = result.received === null || result.received === ""
        ? ""
        : ` [${safe(result.received)}]`;
      const secs = ((outcome.responseMs ?? 0) / 1000).toFixed(3);
      return {
        state,
        line: `${label} ${
          NAGIOS_STATE_TEXT[state]
        } - ${secs} second response time on ${host} port ${port}${shown}|${perf()}`,
      };
    }
    case "mismatch": {
      const state = byTime(nagiosState(options.mismatchState ?? "warning"));
      return {
        state,
        line: `${label} ${NAGIOS_STATE_TEXT[state]} - Unexpected response from host/socket: ${
          safe(result.received)
        }${where(result.where)}|${perf()}`,
      };
    }
    case "refused":
      return {
        state: nagiosState(options.refusedState ?? "critical"),
        line: `connect to address ${host} and port ${port}: Connection refused`,
      };
    case "timeout":
      return {
        state: 2,
        line: `CRITICAL - Socket timeout after ${result.timeoutMs / 1000} seconds${
          where(result.where)
        }`,
      };
    case "no-data":
      return { state: 2, line: "No data received from host" };
    case "error":
      return { state: 2, line: `${label} CRITICAL - ${safe(result.message)}` };
    case "unknown":
      return { state: 3, line: `${label} UNKNOWN - ${safe(result.message)}` };
  }
}

/**
 * `tcpc ping HOST PORT`: repeated connects like tcping, one line per attempt,
 * then ping(8)'s min/avg/max/mdev and loss. Attempts are paced by the
 * readiness loop's timer (lib/net/mux.ts), one at a time.
 *
 * @module
 */

import { errorKind, EXIT_CODES, UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { joinHostPort } from "../net/address.ts";
import { resolve } from "../net/dial.ts";
import { Mux } from "../net/mux.ts";
import { type ErrorRecord, errorRecord } from "../report/error_record.ts";
import { failedConnectState, type ProbeState } from "../report/probe_table.ts";
import { formatPingStats, type PingStats, pingStats } from "../report/ping_stats.ts";
import type { CommandContext } from "./context.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  familyFlag,
  intFlag,
  parseCommandLine,
  type ParsedArgs,
  prepareCommand,
} from "./args.ts";
import {
  DIAL_FLAGS,
  type FlagTable,
  helpText,
  parseConfig,
  reportFlags,
  withHelp,
} from "./flags.ts";
import { exitCodesHelp } from "./exit_help.ts";
import { roundMs, roundRate } from "../report/numbers.ts";
import type { ParseConfig } from "./arg_tokens.ts";
import { formatDuration } from "../report/duration.ts";
import { checkFamily, parseHostPort } from "./target.ts";
import type { ProxyFacts, TlsFacts } from "../facts.ts";
import type { ConnFacts } from "../net/conn.ts";
import { TlsError } from "../net/tls_error.ts";
import { TLS_FLAGS } from "./tls_flags.ts";
import { ROUTE_FLAGS } from "./proxy_flags.ts";
import { routeDialer, type RoutePlan, routePlan } from "./route.ts";

/**
 * The flags of `tcpc ping`: the one source of its parse config, `--help`
 * and README table.
 *
 * @example
 * ```ts
 * import { PING_TABLE } from "./ping.ts";
 * console.log(PING_TABLE.find((flag) => flag.short === "n")?.name); // count
 * ```
 */
export const PING_TABLE: FlagTable = [
  {
    name: "count",
    short: "n",
    type: "string",
    value: "N",
    help: "attempts (default 4; 0 = until interrupted)",
    doc: "attempts (default 4); `0` runs until interrupted (Ctrl-C still prints the " +
      "statistics, then exits 130)",
    section: "load",
  },
  {
    name: "interval",
    short: "i",
    type: "string",
    value: "DUR",
    help: "time from one attempt's start to the next (default 1s)",
    doc: "time from one attempt's start to the next (default 1s), never overlapping",
    section: "load",
  },
  ...withHelp(DIAL_FLAGS, {
    "connect-timeout": { help: "time for each connect (default 2s)" },
  }),
  ...TLS_FLAGS,
  ...ROUTE_FLAGS,
  ...reportFlags({ json: "JSON Lines: one record per attempt, then a summary" }),
];

/**
 * Usage text of `tcpc ping`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { pingHelp } from "./ping.ts";
 * console.log(pingHelp().split("\n")[0]);
 * ```
 */
export function pingHelp(): string {
  return helpText({
    usage: "Usage: tcpc ping HOST PORT [options]",
    summary: "Connect to HOST:PORT again and again and report the connect time, like tcping.",
    table: PING_TABLE,
    footer: exitCodesHelp({
      meanings: {
        0: "at least one attempt connected",
        1: "no attempt connected",
        7: "no attempt connected, the last one failed in TLS",
        8: "no attempt connected, the last one failed at the proxy",
        3: "HOST does not resolve",
        5: "the sandbox refused the target",
      },
      // A timed-out attempt is a failed attempt (1); ping checks no reply.
      omit: [4, 6],
    }),
  });
}

/**
 * The flags of `tcpc ping`, for parseCommandLine() (lib/cli/args.ts).
 *
 * @example Parse a command line with them
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * import { PING_FLAGS } from "./ping.ts";
 * parseCommandLine(["--json"], { options: PING_FLAGS });
 * ```
 */
export const PING_FLAGS: ParseConfig = parseConfig(PING_TABLE);

/** Everything `tcpc ping` was asked to do, validated. */
export interface PingPlan {
  /** Host (no brackets). */
  host: string;
  /** Port. */
  port: number;
  /** Attempts; 0 means until interrupted. */
  count: number;
  /** Start-to-start spacing of attempts, ms. */
  intervalMs: number;
  /** Connect timeout of each attempt, ms. */
  timeoutMs: number;
  /** Address family, or undefined for either. */
  family: 4 | 6 | undefined;
  /** JSON Lines output. */
  json: boolean;
  /** 0, 1 (-v) or 2 (-vv). */
  verbosity: number;
  /** How the target is reached: proxy, source, TLS. */
  route: RoutePlan;
}

/** One JSON Lines record per attempt. */
export interface PingAttemptRecord {
  /** Always `attempt`. */
  type: "attempt";
  /** Attempt number, from 1. */
  seq: number;
  /** The address connected to, `ip:port`. */
  address: string;
  /** `open`, or the failure: `closed`, `timeout`, `unreachable`, `error`. */
  state: ProbeState;
  /** Connect time, ms; null when it failed (with layers: until the top layer was ready). */
  connectMs: number | null;
  /** Time the attempt took, ms. */
  totalMs: number;
  /** Per-phase times, ms; null when the phase did not happen. */
  timings: {
    resolveMs: number | null;
    connectMs: number | null;
    proxyMs: number | null;
    tlsMs: number | null;
  };
  /** What TLS learned (also when verification failed), or null. */
  tls: TlsFacts | null;
  /** The proxy gone through, or null. */
  proxy: ProxyFacts | null;
  /** What went wrong, or null. */
  error: ErrorRecord | null;
}

/** The closing JSON Lines record. */
export interface PingSummaryRecord extends PingStats {
  /** Always `summary`. */
  type: "summary";
  /** The address pinged, `ip:port`. */
  address: string;
}

/**
 * Validates a `tcpc ping` command line. Opens no socket.
 *
 * @example
 * ```ts
 * import { planPing } from "./ping.ts";
 * console.log((await planPing(["127.0.0.1", "6379", "-n", "10"])).count); // 10
 * ```
 */
export async function planPing(argv: string[]): Promise<PingPlan> {
  return await planFromArgs(
    parseCommandLine(argv, { options: PING_FLAGS, command: "tcpc ping" }),
  );
}

async function planFromArgs(args: ParsedArgs): Promise<PingPlan> {
  const { host, port } = parseHostPort(args.positionals, "ping");
  const family = familyFlag(args);
  checkFamily(host, family);
  const timeoutMs = durationFlag(args, "connect-timeout") ?? 2000;
  if (timeoutMs <= 0) throw new UsageError("invalid --connect-timeout: must be above 0");
  return {
    host,
    port,
    count: intFlag(args, "count", { min: 0, max: 1_000_000_000 }) ?? 4,
    intervalMs: durationFlag(args, "interval") ?? 1000,
    timeoutMs,
    family,
    json: boolFlag(args, "json"),
    verbosity: countFlag(args, "verbose"),
    route: await routePlan(args, { host }),
  };
}

/**
 * Runs `tcpc ping`: 0 when any attempt connected, 1 when none did.
 *
 * @example
 * ```ts
 * import { runPing } from "./ping.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * await runPing(["127.0.0.1", "6379", "-n", "3", "-i", "200ms"], ctx);
 * ```
 */
export async function runPing(argv: string[], ctx: CommandContext): Promise<number> {
  const prepared = await prepareCommand(argv, ctx, {
    command: "tcpc ping",
    options: PING_FLAGS,
    help: pingHelp,
    plan: planFromArgs,
  });
  if (prepared === null) return 0;
  const plan = prepared;
  const resolveOptions: Parameters<typeof resolve>[1] = {
    connectTimeoutMs: plan.timeoutMs,
    signal: ctx.signal,
  };
  if (plan.family !== undefined) resolveOptions.family = plan.family;
  // Resolved once, like tcping: every attempt measures the connect alone.
  // Through a proxy the name goes to the proxy's layer (socks5h, socks4a and
  // http resolve it at the proxy).
  const [ip] = plan.route.proxy !== null ? [plan.host] : await resolve(plan.host, resolveOptions);
  const hostname = ip ?? plan.host;
  const dialer = routeDialer({
    route: plan.route,
    base: plan.family === undefined ? {} : { family: plan.family },
  });
  const address = joinHostPort(hostname, plan.port);
  log("ping").info(
    `pinging ${address} ${plan.count === 0 ? "until interrupted" : `${plan.count} times`}, every ${
      formatDuration(plan.intervalMs)
    }`,
  );
  const times: (number | null)[] = [];
  let denied: unknown = null;
  let lastError: unknown = null;
  let seq = 0;
  let lastStart = 0;
  const facts = new Map<number, ConnFacts>();
  const mux = new Mux<number>({
    ...(dialer === undefined ? {} : { dialer }),
    signal: ctx.signal,
    maxConnecting: 1,
    handler: {
      onOpen: (conn) => {
        if (conn.conn !== null) facts.set(conn.state, conn.conn.facts);
        conn.close();
      },
      onClose: (conn, result) => {
        if (result.reason === "aborted") return;
        const learned = facts.get(conn.state) ?? null;
        facts.delete(conn.state);
        if (!result.connected) lastError = result.error;
        const state = result.connected
          ? "open"
          : failedConnectState(errorRecord(result.error).kind);
        if (errorKind(result.error) === "denied") denied ??= result.error;
        times.push(result.connected ? result.connectMs : null);
        const record: PingAttemptRecord = {
          type: "attempt",
          seq: conn.state,
          address,
          state,
          connectMs: roundMs(result.connectMs),
          totalMs: roundMs(result.totalMs),
          timings: {
            resolveMs: roundMs(learned?.timings.resolveMs ?? null),
            connectMs: roundMs(learned?.timings.connectMs ?? result.connectMs),
            proxyMs: roundMs(learned?.timings.proxyMs ?? null),
            tlsMs: roundMs(learned?.timings.tlsMs ?? null),
          },
          tls: learned?.tls ??
            (result.error instanceof TlsError ? result.error.facts : null),
          proxy: learned?.proxy ?? null,
          error: result.connected ? null : errorRecord(result.error),
        };
        if (plan.json) ctx.out(JSON.stringify(record));
        else if (result.connected) {
          ctx.out(
            `${address}: seq=${record.seq} open time=${(result.connectMs ?? 0).toFixed(3)} ms`,
          );
        } else {
          const why = record.error?.message.replace(/^connect "[^"]*": /, "") ?? state;
          ctx.out(`${address}: seq=${record.seq} ${state}: ${why}`);
        }
        if (plan.count !== 0 && seq >= plan.count) return;
        // Start-to-start spacing, never overlapping the attempt that just ended.
        const wait = Math.max(0, lastStart + plan.intervalMs - performance.now());
        mux.after(wait, attempt);
      },
    },
  });
  function attempt(): void {
    seq++;
    lastStart = performance.now();
    mux.dial({
      hostname,
      port: plan.port,
      name: plan.host,
      state: seq,
      read: false,
      connectTimeoutMs: plan.timeoutMs,
    });
  }
  attempt();
  try {
    await mux.run();
  } finally {
    // On SIGINT the summary still comes, as with ping(8).
    const stats = pingStats(times);
    if (plan.json) {
      const summary: PingSummaryRecord = {
        type: "summary",
        address,
        attempts: stats.attempts,
        succeeded: stats.succeeded,
        lossPercent: roundRate(stats.lossPercent),
        minMs: roundMs(stats.minMs),
        avgMs: roundMs(stats.avgMs),
        maxMs: roundMs(stats.maxMs),
        mdevMs: roundMs(stats.mdevMs),
      };
      ctx.out(JSON.stringify(summary));
    } else if (times.length > 0) {
      for (const line of formatPingStats(stats, address)) ctx.out(line);
    }
  }
  if (times.some((t) => t !== null)) return 0;
  // The sandbox refusing the target is a set-up problem: say so (exit 5).
  if (denied !== null) throw denied;
  // TLS and the proxy have exit codes of their own (7, 8): the last attempt's says which.
  const kind = errorKind(lastError);
  if (kind === "tls" || kind === "proxy") return EXIT_CODES[kind];
  return EXIT_CODES.refused;
}

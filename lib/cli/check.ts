/**
 * `tcpc check HOST [PORT] [steps]`: a monitoring plugin with check_tcp's
 * semantics (one status line with perfdata, Nagios exit codes), ordered
 * dialog steps and `--proto` presets, and text, JSON or Prometheus output.
 *
 * @module
 */

import { errorKind, NetError, UsageError } from "../errors.ts";
import { joinHostPort } from "../net/address.ts";
import type { Conn } from "../net/conn.ts";
import { dialStack } from "../net/stack.ts";
import { type DialogResult, DialogVerifyError, runDialog } from "../net/dialog.ts";
import type { Preset } from "../net/presets.ts";
import { errorRecord } from "../report/error_record.ts";
import {
  NAGIOS_STATE_TEXT,
  type NagiosOutcome,
  type NagiosResult,
  type NagiosState,
  type NagiosStateName,
  renderNagios,
} from "../report/nagios.ts";
import { type ProbeMetrics, renderPrometheus } from "../report/prometheus.ts";
import { escapeLine } from "../report/safe_text.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  familyFlag,
  parseCommandLine,
  stringFlag,
} from "./args.ts";
import { parseConfig, reportFlags } from "./flags.ts";
import type { CommandContext } from "./context.ts";
import { STEP_FLAGS, stepsFromArgs } from "./steps.ts";
import { parseHost, parsePort } from "./target.ts";
import type { DialogStep } from "../net/dialog.ts";
import type { ProxyFacts, TlsFacts } from "../facts.ts";
import { certDaysText } from "../net/cert_days.ts";
import { TlsError } from "../net/tls_error.ts";
import { TLS_FLAGS } from "./tls_flags.ts";
import { ROUTE_FLAGS } from "./proxy_flags.ts";
import { type RoutePlan, routePlan, stackOptions } from "./route.ts";

/** Usage text of `tcpc check`. */
export const CHECK_HELP = `Usage: tcpc check HOST [PORT] [steps] [options]

A monitoring plugin for Nagios/Icinga with check_tcp's status line and exit
codes: connect, run the steps in order, print one line with perfdata.

Steps (run in the order given, after the --proto dialog; nothing is appended):
      --send TEXT            send TEXT (escapes \\r \\n \\t \\0 \\\\ \\xHH)
      --send-hex HEX         send bytes given as hex (0d0a, 0d 0a, 0d:0a)
      --expect TEXT          read until the step's bytes contain TEXT
      --expect-re REGEX      read until REGEX matches the step's bytes (latin1)
      --expect-hex HEX       read until the step's bytes contain these bytes
      --proto NAME           a ready dialog: ftp, http, imap, memcached, pop3,
                             postgres, redis, smtp, ssh (PORT defaults to its port)
Options:
  -w, --connect-timeout DUR  time for the connect (default 10s; perfdata max)
  -t, --timeout DUR          time for each step (default 10s)
      --warning DUR          response time above DUR: WARNING
      --critical DUR         response time above DUR: CRITICAL
      --cert-days W[,C]      with --tls: leaf valid for fewer than W days: WARNING,
                             fewer than C days: CRITICAL (as check_tcp -D)
      --refused-state S      ok, warning or critical (default critical)
      --mismatch-state S     ok, warning or critical (default warning)
      --format F             text (default), json or prometheus
      --json                 the same as --format json
  -4, -6                     IPv4 or IPv6 only
TLS and proxy: --tls, --sni, --alpn, --cacert, --cert, --key, -k, --starttls,
  --proxy, --proxy-auth, --proxy-protocol, -s/--source, -p/--source-port
  (as in tcpc HOST PORT --help)
  -v, --verbose              -v info, -vv debug (on stderr)
  -h, --help                 this help

Exit (Nagios plugin API): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage error,
a name that does not resolve).`;

/** The flags of `tcpc check`, for parseCommandLine() (lib/cli/args.ts). */
export const CHECK_FLAGS = {
  ...parseConfig(reportFlags()),
  ...STEP_FLAGS,
  ...parseConfig(TLS_FLAGS),
  ...parseConfig(ROUTE_FLAGS),
  "cert-days": { type: "string" },
  "connect-timeout": { type: "string", short: "w" },
  ipv4: { type: "boolean", short: "4" },
  ipv6: { type: "boolean", short: "6" },
  timeout: { type: "string", short: "t" },
  warning: { type: "string" },
  critical: { type: "string" },
  "refused-state": { type: "string" },
  "mismatch-state": { type: "string" },
  format: { type: "string" },
} as const;

/** Everything `tcpc check` was asked to do, validated. */
export interface CheckPlan {
  /** The host, without brackets. */
  host: string;
  /** The port. */
  port: number;
  /** The dialog. */
  steps: DialogStep[];
  /** The `--proto` preset, or null. */
  preset: Preset | null;
  /** Connect timeout, ms. */
  connectTimeoutMs: number;
  /** Step timeout, ms. */
  stepTimeoutMs: number;
  /** WARNING threshold, ms. */
  warningMs: number | undefined;
  /** CRITICAL threshold, ms. */
  criticalMs: number | undefined;
  /** State of a refused connect. */
  refusedState: NagiosStateName;
  /** State of a mismatch. */
  mismatchState: NagiosStateName;
  /** Output format. */
  format: "text" | "json" | "prometheus";
  /** Address family. */
  family: 4 | 6 | undefined;
  /** `-v` count. */
  verbosity: number;
  /** How the target is reached: proxy, source, TLS. */
  route: RoutePlan;
  /** `--cert-days W[,C]`: days below which the leaf is WARNING, CRITICAL; or null. */
  certDays: { warning: number; critical: number } | null;
}

/** `W[,C]` as check_tcp's `-D` reads it: C defaults to 0 (only an expired leaf is critical). */
function certDaysFlag(text: string | undefined): CheckPlan["certDays"] {
  if (text === undefined) return null;
  const match = /^(\d{1,6})(?:,(\d{1,6}))?$/.exec(text);
  if (match === null) {
    throw new UsageError(`invalid --cert-days "${text}": use W or W,C (whole days)`);
  }
  const warning = Number(match[1]);
  const critical = match[2] === undefined ? 0 : Number(match[2]);
  if (critical > warning) {
    throw new UsageError(`invalid --cert-days "${text}": C must not be above W`);
  }
  return { warning, critical };
}

function stateFlag(value: string | undefined, flag: string): NagiosStateName | undefined {
  if (value === undefined) return undefined;
  // check_tcp spells them ok|warn|crit: accept both.
  const map: Record<string, NagiosStateName> = {
    ok: "ok",
    warning: "warning",
    warn: "warning",
    critical: "critical",
    crit: "critical",
  };
  const state = Object.hasOwn(map, value) ? map[value] : undefined;
  if (state === undefined) {
    throw new UsageError(`invalid ${flag} "${value}": use ok, warning or critical`);
  }
  return state;
}

/**
 * Validates a `tcpc check` command line into a plan (throws
 * {@linkcode UsageError}). Returns null for `--help`.
 *
 * @example
 * ```ts
 * import { planCheck } from "./check.ts";
 * const plan = await planCheck(["127.0.0.1", "--proto", "redis", "--warning", "50ms"]);
 * console.log(plan?.port, plan?.warningMs); // 6379 50
 * ```
 */
export async function planCheck(argv: string[]): Promise<CheckPlan | null> {
  const args = parseCommandLine(argv, { options: CHECK_FLAGS, command: "tcpc check" });
  if (boolFlag(args, "help")) return null;
  const [hostText, portText, ...extra] = args.positionals;
  if (hostText === undefined) throw new UsageError("check: missing HOST");
  if (extra.length > 0) throw new UsageError(`check: unexpected argument "${extra[0]}"`);
  const host = parseHost(hostText);
  const portGiven = portText === undefined ? 0 : parsePort(portText);
  const { steps, preset } = stepsFromArgs(argv, { config: CHECK_FLAGS, host, port: portGiven });
  const port = portGiven || preset?.defaultPort;
  if (port === undefined) throw new UsageError("check: missing PORT (or --proto NAME)");
  const formatText = stringFlag(args, "format") ?? (boolFlag(args, "json") ? "json" : "text");
  if (formatText !== "text" && formatText !== "json" && formatText !== "prometheus") {
    throw new UsageError(`invalid --format "${formatText}": use text, json or prometheus`);
  }
  if (boolFlag(args, "json") && formatText !== "json") {
    throw new UsageError(`conflicting flags --json and --format ${formatText}: give only one`);
  }
  const route = await routePlan(args, { host });
  const certDays = certDaysFlag(stringFlag(args, "cert-days"));
  if (certDays !== null && route.tls === null) {
    throw new UsageError("--cert-days needs --tls (or --starttls)");
  }
  return {
    route,
    certDays,
    host,
    port,
    steps,
    preset,
    connectTimeoutMs: durationFlag(args, "connect-timeout") ?? 10_000,
    stepTimeoutMs: durationFlag(args, "timeout") ?? 10_000,
    warningMs: durationFlag(args, "warning"),
    criticalMs: durationFlag(args, "critical"),
    refusedState: stateFlag(stringFlag(args, "refused-state"), "--refused-state") ?? "critical",
    mismatchState: stateFlag(stringFlag(args, "mismatch-state"), "--mismatch-state") ??
      "warning",
    format: formatText,
    family: familyFlag(args),
    verbosity: countFlag(args, "verbose"),
  };
}

/** What one check measured and how it ended. */
interface CheckRun {
  result: NagiosResult;
  error: unknown;
  /** The whole check, ms, whatever happened. */
  durationMs: number;
  responseMs: number | null;
  resolveMs: number | null;
  connectMs: number | null;
  proxyMs: number | null;
  tlsMs: number | null;
  tls: TlsFacts | null;
  proxy: ProxyFacts | null;
  addresses: string[];
  remoteAddress: string | null;
  dialog: DialogResult | null;
}

/** Escaped received text without its trailing line end, as check_tcp shows it. */
function trimLineEnd(text: string): string {
  return text.replace(/(\\r)?\\n$/, "");
}

/** The escaped text of the last expect step, for `[...]`. */
function lastReceived(dialog: DialogResult): string | null {
  const last = dialog.steps.findLast((s) => s.received !== null)?.received;
  return last === undefined || last === null ? null : trimLineEnd(last);
}

async function runOnce(plan: CheckPlan, signal: AbortSignal): Promise<CheckRun> {
  const started = performance.now();
  const address = joinHostPort(plan.host, plan.port);
  const run: CheckRun = {
    result: { type: "ok", received: null },
    error: null,
    durationMs: 0,
    responseMs: null,
    resolveMs: null,
    connectMs: null,
    proxyMs: null,
    tlsMs: null,
    tls: null,
    proxy: null,
    addresses: [],
    remoteAddress: null,
    dialog: null,
  };
  let conn: Conn;
  try {
    conn = await dialStack(
      plan.host,
      plan.port,
      stackOptions(plan.host, plan.port, {
        route: plan.route,
        base: {
          connectTimeoutMs: plan.connectTimeoutMs,
          signal,
          onResolved: (addresses, resolveMs) => {
            run.addresses = addresses;
            run.resolveMs = resolveMs;
          },
          ...(plan.family === undefined ? {} : { family: plan.family }),
        },
      }),
    );
    const { facts } = conn;
    run.connectMs = facts.timings.connectMs ?? 0;
    run.proxyMs = facts.timings.proxyMs;
    run.tlsMs = facts.timings.tlsMs;
    run.tls = facts.tls;
    run.proxy = facts.proxy;
    run.remoteAddress = conn.remoteAddress;
  } catch (err) {
    if (signal.aborted && errorKind(err) !== "timeout") throw signal.reason;
    run.error = err;
    if (err instanceof TlsError) run.tls = err.facts;
    const kind = errorKind(err);
    run.result = kind === "refused"
      ? { type: "refused" }
      : kind === "timeout"
      ? { type: "timeout", timeoutMs: plan.connectTimeoutMs }
      : kind === "dns"
      ? { type: "unknown", message: `Invalid hostname, address or socket: ${plan.host}` }
      : { type: "error", message: err instanceof Error ? err.message : String(err) };
    run.durationMs = performance.now() - started;
    return run;
  }
  try {
    if (plan.steps.length > 0) {
      const dialog = await runDialog(conn, {
        steps: plan.steps,
        address,
        stepTimeoutMs: plan.stepTimeoutMs,
        signal,
      });
      run.dialog = dialog;
      const err = dialog.error;
      // check_tcp's messages have no step: name it when there is more than one.
      const where = err !== null && plan.steps.length > 1
        ? `step ${err.step} (${err.stepText})`
        : undefined;
      const at = where === undefined ? {} : { where };
      if (err === null) run.result = { type: "ok", received: lastReceived(dialog) };
      else if (err instanceof DialogVerifyError) {
        run.result = { type: "mismatch", received: trimLineEnd(err.received), ...at };
      } else if (err.kind === "timeout") {
        run.result = { type: "timeout", timeoutMs: plan.stepTimeoutMs, ...at };
      } else if (err.kind === "closed" && err.received === "") run.result = { type: "no-data" };
      else run.result = { type: "error", message: err.message };
      run.error = err;
    }
    run.responseMs = performance.now() - started;
    run.durationMs = run.responseMs;
    return run;
  } finally {
    conn.close();
  }
}

function failurePhase(run: CheckRun): string {
  if (run.dialog?.error) return "dialog";
  const op = run.error instanceof NetError ? run.error.op : "connect";
  return op === "lookup" ? "resolve" : op;
}

function metricsOf(plan: CheckPlan, run: CheckRun, state: NagiosState): ProbeMetrics {
  const hasExpect = plan.steps.some((s) => s.kind.startsWith("expect"));
  const remote = run.remoteAddress ?? run.addresses[0] ?? null;
  return {
    target: joinHostPort(plan.host, plan.port),
    success: state === 0,
    durationMs: run.durationMs,
    resolveMs: run.resolveMs,
    connectMs: run.connectMs,
    tlsMs: run.tlsMs,
    firstByteMs: run.dialog?.firstByteMs ?? null,
    // joinHostPort brackets IPv6; resolved addresses are bare.
    ipProtocol: remote === null ? null : remote.startsWith("[") || remote.includes("::") ||
        (remote.match(/:/g)?.length ?? 0) > 1
      ? 6
      : 4,
    tls: run.tls,
    failedDueToRegex: hasExpect ? run.dialog?.error instanceof DialogVerifyError : null,
    failure: run.error === null ? null : {
      phase: failurePhase(run),
      reason: errorKind(run.error),
      step: run.dialog?.error?.step ?? null,
    },
  };
}

/** `--cert-days W,C` against the leaf: WARNING below W days, CRITICAL below C (check_tcp -D). */
function certState(
  plan: CheckPlan,
  run: CheckRun,
): { state: NagiosState; message: string } | null {
  const leaf = run.tls?.certificate ?? null;
  if (plan.certDays === null || leaf === null) return null;
  const { warning, critical } = plan.certDays;
  const state: NagiosState = leaf.daysLeft < critical ? 2 : leaf.daysLeft < warning ? 1 : 0;
  if (state === 0) return null;
  return {
    state,
    message: `${
      certDaysText(leaf.daysLeft, leaf.notAfter)
    }, under --cert-days ${warning},${critical}`,
  };
}

/**
 * Runs `tcpc check`: prints one status line (or a JSON record, or Prometheus
 * text) and resolves to the Nagios state as the exit code. A usage error
 * prints `TCP UNKNOWN - ...` and gives 3.
 *
 * @example
 * ```ts
 * import { runCheck } from "./check.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const code = await runCheck(["127.0.0.1", "6379", "--proto", "redis"], ctx);
 * ```
 */
export async function runCheck(argv: string[], ctx: CommandContext): Promise<number> {
  let plan: CheckPlan | null;
  try {
    plan = await planCheck(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    ctx.out(escapeLine(`TCP UNKNOWN - ${err.message}`));
    return 3;
  }
  if (plan === null) {
    ctx.out(CHECK_HELP);
    return 0;
  }
  await ctx.setVerbosity(plan.verbosity);
  const run = await runOnce(plan, ctx.signal);
  const perf = [
    ...(run.proxyMs === null ? [] : [{ label: "proxy", ms: run.proxyMs }]),
  ];
  const extraPerf = [
    ...perf,
    ...(run.tlsMs === null ? [] : [{ label: "tls", ms: run.tlsMs }]),
    ...(run.dialog?.steps ?? []).map((s) => ({ label: `step${s.step}`, ms: s.ms })),
  ];
  const outcome: NagiosOutcome = {
    label: plan.preset?.label ?? "TCP",
    host: plan.host,
    port: plan.port,
    result: run.result,
    responseMs: run.responseMs,
    timeoutMs: plan.connectTimeoutMs,
    extraPerf,
  };
  let { state, line } = renderNagios(outcome, {
    refusedState: plan.refusedState,
    mismatchState: plan.mismatchState,
    ...(plan.warningMs === undefined ? {} : { warningMs: plan.warningMs }),
    ...(plan.criticalMs === undefined ? {} : { criticalMs: plan.criticalMs }),
  });
  const cert = certState(plan, run);
  if (cert !== null && cert.state > state) {
    // check_tcp -D: the certificate's verdict replaces the line; the perfdata stays.
    const perfdata = line.includes("|") ? line.slice(line.indexOf("|")) : "";
    state = cert.state;
    line = `${outcome.label} ${NAGIOS_STATE_TEXT[state]} - ${cert.message}${perfdata}`;
  }
  if (plan.format === "text") ctx.out(escapeLine(line));
  else if (plan.format === "prometheus") {
    ctx.out(renderPrometheus([metricsOf(plan, run, state)]).trimEnd());
  } else {
    const dialogError = run.dialog?.error ?? null;
    ctx.out(escapeLine(JSON.stringify({
      target: joinHostPort(plan.host, plan.port),
      state: NAGIOS_STATE_TEXT[state],
      code: state,
      line,
      responseMs: run.responseMs,
      timings: {
        resolveMs: run.resolveMs,
        connectMs: run.connectMs,
        proxyMs: run.proxyMs,
        tlsMs: run.tlsMs,
      },
      tls: run.tls,
      proxy: run.proxy,
      firstByteMs: run.dialog?.firstByteMs ?? null,
      steps: run.dialog?.steps ?? [],
      error: run.error === null ? null : {
        ...errorRecord(run.error),
        ...(dialogError === null ? {} : {
          step: dialogError.step,
          stepText: dialogError.stepText,
          received: dialogError.received,
        }),
      },
    })));
  }
  return state;
}

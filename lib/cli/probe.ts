/**
 * `tcpc probe TARGET...`: many connects at once on the readiness loop
 * (lib/net/mux.ts), one record per target, optional dialog steps
 * (`--send`, `--expect`, `--proto`...) as a health check like Nagios `check_tcp`.
 *
 * @module
 */

import { errorKind, UsageError } from "../errors.ts";
import { quoteValue } from "./quote.ts";
import { log } from "../log.ts";
import { hostKind, joinHostPort } from "../net/address.ts";
import { resolve } from "../net/dial.ts";
import { type FdLimit, readFdLimit } from "../net/fd_limit.ts";
import { countFreeFds } from "../net/fd_budget.ts";
import { MAX_CONNECTS_IN_FLIGHT } from "../net/mux.ts";
import { toNetError } from "../net/net_errors.ts";
import { errorRecord } from "../report/error_record.ts";
import {
  failedConnectState,
  formatProbeHeader,
  formatProbeRow,
  formatProbeSummary,
  type ProbeRecord,
  type ProbeState,
} from "../report/probe_table.ts";
import type { CommandContext } from "./context.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  intFlag,
  parseCommandLine,
  type ParsedArgs,
  prepareCommand,
  stringFlag,
  stringsFlag,
} from "./args.ts";
import {
  CONNECT_TIMEOUT_FLAG,
  type FlagTable,
  helpText,
  parseConfig,
  reportFlags,
  withHelp,
} from "./flags.ts";
import { exitCodesHelp } from "./exit_help.ts";
import type { ParseConfig } from "./arg_tokens.ts";
import { formatDuration } from "../report/duration.ts";
import { ProbeShard, type ProbeSteps, type ShardTarget } from "../net/probe_shard.ts";
import type { DialogStep } from "../net/dialog.ts";
import type { Preset } from "../net/presets.ts";
import { STEP_TABLE, stepsFromArgs } from "./steps.ts";
import { roundMs } from "../report/numbers.ts";
import type { ProbeWorkerChunk, ProbeWorkerDone, ProbeWorkerInit } from "../net/probe_worker.ts";
import { parseTargetRanges } from "./target.ts";
import { type ProbeMetrics, renderPrometheus } from "../report/prometheus.ts";
import { TLS_FLAGS } from "./tls_flags.ts";
import { ROUTE_FLAGS } from "./proxy_flags.ts";
import { isPlainRoute, routeDialer, type RoutePlan, routePlan } from "./route.ts";

/**
 * The flags of `tcpc probe`: the one source of its parse config, `--help`
 * and README table.
 *
 * @example
 * ```ts
 * import { PROBE_TABLE } from "./probe.ts";
 * console.log(PROBE_TABLE.some((flag) => flag.name === "expect-re")); // true
 * ```
 */
export const PROBE_TABLE: FlagTable = [
  {
    name: "file",
    short: "f",
    type: "string",
    multiple: true,
    value: "FILE",
    help: "read targets from FILE, one per line (# comments)",
    doc: "read targets from FILE, one per line (`#` starts a comment); repeatable",
    section: "targets",
  },
  ...STEP_TABLE,
  {
    name: "concurrency",
    short: "c",
    type: "string",
    value: "N",
    help: "targets in progress at once (default 256; at most 128 connects are in flight " +
      "at a time)",
    doc: "targets in progress at once (default 256). At most 128 connects are in flight at " +
      'a time whatever N is (see "Limits")',
    section: "load",
  },
  {
    name: "workers",
    type: "string",
    value: "N",
    help: "threads that share the connects of a connect-only probe (default: auto, 1 below " +
      "4096 targets; 0 or 1: this thread only; with steps: always 1)",
    doc: "threads that share the connects of a connect-only probe. Default: one per core " +
      "(2-4) from 4,096 targets on, else 1; `0` or `1`: this thread only. With steps " +
      "(`--send`, `--expect`, `--proto`...) always 1. Each thread has its own 128-connect " +
      'budget (see "Limits")',
    section: "load",
  },
  ...withHelp([CONNECT_TIMEOUT_FLAG], {
    "connect-timeout": {
      help: "time for each connect (default 2s), and for each step after it",
      doc: "time for each connect (default 2s). With steps, each step gets DUR again, " +
        "counted from its start (the first from the connect)",
    },
  }),
  ...TLS_FLAGS,
  {
    name: "cert-days",
    type: "string",
    value: "N",
    help: "with --tls: a leaf certificate valid for fewer than N more days fails the target",
    doc: "with `--tls`: a target whose leaf certificate is valid for fewer than N more days " +
      "fails (state `tls`), like `check_tcp -D`",
    section: "tls",
  },
  ...ROUTE_FLAGS,
  {
    name: "format",
    type: "string",
    value: "FMT",
    help: "text (default), json (= --json) or prometheus (one series per target)",
    doc: "`text` (default), `json` (the same as `--json`) or `prometheus`: exposition text " +
      "with one series per target, for node_exporter's textfile collector",
    section: "output",
  },
  ...reportFlags({ json: "JSON Lines: one record per target, in target order" }),
];

/**
 * Usage text of `tcpc probe`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { probeHelp } from "./probe.ts";
 * console.log(probeHelp().split("\n")[0]);
 * ```
 */
export function probeHelp(): string {
  return helpText({
    usage: "Usage: tcpc probe TARGET... [steps] [options]",
    summary: `Connect to many ports at once and report each: open, closed, timeout,
unreachable, dns-error, mismatch, tls, proxy or error.

TARGET: host:port, host:lo-hi, host:p1,p2,... (items may be ranges), [v6addr]:port

Steps run on every target in the order given, after the --proto dialog, each
within -w; a step that fails makes the target a mismatch naming the step.`,
    table: PROBE_TABLE,
    footer: exitCodesHelp({
      meanings: {
        0: "every target open (and matched)",
        1: "some target closed, timed out, unreachable, not resolved or failed",
        5: "the sandbox refused a target",
        6: "only expectations failed",
      },
      // A timeout or a name that does not resolve is a target's state here, not the run's.
      omit: [3, 4, 7, 8],
    }),
  });
}

/**
 * The flags of `tcpc probe`, for parseCommandLine() (lib/cli/args.ts).
 *
 * @example Parse a command line with them
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * import { PROBE_FLAGS } from "./probe.ts";
 * parseCommandLine(["--json"], { options: PROBE_FLAGS });
 * ```
 */
export const PROBE_FLAGS: ParseConfig = parseConfig(PROBE_TABLE);

/** Everything `tcpc probe` was asked to do, validated. */
export interface ProbePlan {
  /** Targets in order: host (validated, no brackets) and port. */
  targets: { host: string; port: number }[];
  /** Targets in progress at once. */
  concurrency: number;
  /** Connect timeout (and the timeout of each step), ms. */
  timeoutMs: number;
  /** The step flags, in command-line order (they run after the preset's dialog). */
  steps: DialogStep[];
  /** The `--proto` preset, or null. */
  preset: Preset | null;
  /** JSON Lines output (`--json`, `--format json`). */
  json: boolean;
  /** Output format. */
  format: "text" | "json" | "prometheus";
  /** How targets are reached: proxy, source, TLS. */
  route: RoutePlan;
  /** `--cert-days`: least days the leaf must stay valid, or null. */
  certDays: number | null;
  /** 0, 1 (-v) or 2 (-vv). */
  verbosity: number;
  /** Worker threads asked for with `--workers`, or null: decided by the run's size. */
  workers: number | null;
}

/** Most targets one run accepts (memory bound for the target list). */
const MAX_TARGETS = 1_000_000;

async function readTargetFile(path: string): Promise<string[]> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").map((line) => line.replace(/#.*/, "").trim()).filter((line) =>
      line !== ""
    );
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.NotCapable
      ? "denied by the permission sandbox (needs --allow-read)"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new UsageError(`cannot read --file ${quoteValue(path)}: ${why}`);
  }
}

/**
 * Validates a `tcpc probe` command line into a plan; reads `-f` files; throws
 * a {@linkcode UsageError} for the first bad value. Opens no socket.
 *
 * @example
 * ```ts
 * import { planProbe } from "./probe.ts";
 * const plan = await planProbe(["127.0.0.1:80-82", "-w", "1s"]);
 * console.log(plan.targets.length, plan.timeoutMs); // 3 1000
 * ```
 */
export async function planProbe(argv: string[]): Promise<ProbePlan> {
  return await planFromArgs(
    parseCommandLine(argv, { options: PROBE_FLAGS, command: "tcpc probe" }),
    argv,
  );
}

async function planFromArgs(args: ParsedArgs, argv: string[]): Promise<ProbePlan> {
  const texts = [...args.positionals];
  for (const path of stringsFlag(args, "file")) texts.push(...await readTargetFile(path));
  if (texts.length === 0) {
    throw new UsageError("probe: missing TARGET (see tcpc probe --help)");
  }
  // Validate and count every target before expanding any range: the cap must
  // hold before memory is spent (2,100 x "1-65535" would be 137 million).
  const specs = texts.map(parseTargetRanges);
  const count = specs.reduce((sum, spec) => sum + spec.count, 0);
  if (count > MAX_TARGETS) {
    throw new UsageError(`too many targets: ${count}, at most ${MAX_TARGETS} per run`);
  }
  const targets: ProbePlan["targets"] = [];
  for (const { host, ranges } of specs) {
    for (const [lo, hi] of ranges) {
      for (let port = lo; port <= hi; port++) targets.push({ host, port });
    }
  }
  // A preset's dialog is made per target (HTTP's Host names it): keep the
  // preset and the given steps apart.
  const { given, preset } = stepsFromArgs(argv, { config: PROBE_FLAGS });
  const timeoutMs = durationFlag(args, "connect-timeout") ?? 2000;
  if (timeoutMs <= 0) throw new UsageError(`invalid --connect-timeout: must be above 0`);
  const format = formatFlag(args);
  // SNI defaults to each target's own name (lib/cli/route.ts routeDialer): the
  // plan's host is an IP literal so that only --sni fixes it for all.
  const route = await routePlan(args, { host: "0.0.0.0" });
  const certDays = intFlag(args, "cert-days", { min: 0, max: 100_000 }) ?? null;
  if (certDays !== null && route.tls === null) {
    throw new UsageError("--cert-days needs --tls (or --starttls)");
  }
  return {
    targets,
    concurrency: intFlag(args, "concurrency", { min: 1, max: 100_000 }) ?? 256,
    timeoutMs,
    steps: given,
    preset,
    json: format === "json",
    format,
    route,
    certDays,
    verbosity: countFlag(args, "verbose"),
    workers: intFlag(args, "workers", { min: 0, max: 16 }) ?? null,
  };
}

/** `--format` and `--json`, checked against each other. */
function formatFlag(args: ParsedArgs): ProbePlan["format"] {
  const json = boolFlag(args, "json");
  const text = stringFlag(args, "format") ?? (json ? "json" : "text");
  if (text !== "text" && text !== "json" && text !== "prometheus") {
    throw new UsageError(`invalid --format "${text}": use text, json or prometheus`);
  }
  if (json && text !== "json") {
    throw new UsageError(`conflicting flags --json and --format ${text}: give only one`);
  }
  return text;
}

/** Resolves each distinct host once (IP literals cost nothing), a few at a time. */
async function resolveHosts(
  plan: ProbePlan,
  signal: AbortSignal,
): Promise<Resolved> {
  const hosts = [...new Set(plan.targets.map((t) => t.host))];
  const found: Resolved = new Map();
  if (plan.route.proxy !== null) {
    // Through a proxy the name goes to the proxy's layer: socks5h, socks4a and
    // http let the proxy resolve it; socks5 and socks4 resolve it there.
    for (const host of hosts) found.set(host, { address: host, ms: null, error: null });
    return found;
  }
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const host = hosts[next++]!;
      const started = performance.now();
      try {
        const [address] = await resolve(host, { connectTimeoutMs: plan.timeoutMs, signal });
        // An IP literal is not resolved: its resolveMs is 0 (README), as in connect mode.
        const ms = hostKind(host) === "name" ? performance.now() - started : 0;
        found.set(host, { address: address ?? null, ms, error: null });
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        found.set(host, { address: null, ms: performance.now() - started, error: err });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, hosts.length) }, worker));
  return found;
}

/**
 * Runs `tcpc probe`: returns 0 when every target is open (and matched), 6 when
 * only expectations failed, 1 otherwise.
 *
 * @example Probe a local range
 * ```ts
 * import { runProbe } from "./probe.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const code = await runProbe(["127.0.0.1:6379", "--proto", "redis"], ctx);
 * ```
 */
export async function runProbe(argv: string[], ctx: CommandContext): Promise<number> {
  const plan = await prepareCommand(argv, ctx, {
    command: "tcpc probe",
    options: PROBE_FLAGS,
    help: probeHelp,
    plan: (args) => planFromArgs(args, argv),
  });
  return plan === null ? 0 : await probe(plan, ctx);
}

/** Runs of this many targets or more use worker threads unless `--workers` says otherwise. */
const WORKER_THRESHOLD = 4096;
/**
 * Worker threads of a large run: one per core, at least 2, at most 4. Each has
 * its own event loop, so its own 128 connects in flight, and the connect
 * syscalls and records (the sweep is CPU-bound) spread over the cores.
 * Measured on 2 cores (bench/RESULTS.md): 2 or 3 workers ~1.5x faster than
 * one thread; 3 no better than 2.
 */
const DEFAULT_WORKERS = Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2));
/** Most targets per chunk posted to a worker. */
const CHUNK_SIZE = 1024;

/** What the whole run found, shared by both ways of running it. */
interface Tally {
  counts: Partial<Record<ProbeState, number>>;
  done: number;
  denied: unknown;
  events: number;
}

type Resolved = Map<string, { address: string | null; ms: number | null; error: unknown }>;

/** How `probe` runs: the plan plus what was decided before the first connect. */
interface RunSetup {
  plan: ProbePlan;
  ctx: CommandContext;
  resolved: Resolved;
  maxOpen: number;
  width: number;
  tally: Tally;
  warnFdLimit: (cap: number) => void;
  /** With `--format prometheus`: each target's metrics, in target order once done. */
  metrics: ProbeMetrics[] | null;
}

function dnsErrorRecord(
  host: string,
  port: number,
  found: { ms: number | null; error: unknown },
): ProbeRecord {
  return {
    target: joinHostPort(host, port),
    host,
    port,
    address: null,
    state: failedConnectState(errorKind(found.error)),
    timings: {
      resolveMs: roundMs(found.ms),
      connectMs: null,
      proxyMs: null,
      tlsMs: null,
      firstByteMs: null,
      totalMs: roundMs(found.ms ?? 0),
    },
    bytesSent: 0,
    bytesReceived: 0,
    reply: null,
    step: null,
    received: null,
    tls: null,
    proxy: null,
    error: errorRecord(found.error),
  };
}

/** True when the targets have a dialog. */
function hasSteps(plan: ProbePlan): boolean {
  return plan.steps.length > 0 || plan.preset !== null;
}

/** Each target's dialog: the preset's for its host and port, then the given steps. */
function stepsOf(plan: ProbePlan): ProbeSteps | null {
  const { preset, steps } = plan;
  if (preset === null) return steps.length === 0 ? null : () => steps;
  return (target) => [...preset.steps({ host: target.host, port: target.port }), ...steps];
}

/**
 * Worker threads for this run: 1 (this thread only) for small runs, when a
 * host did not resolve (its records are made here), when the sandbox does not
 * grant every address outright (the refusal is reported from here), and with
 * dialog steps, with a proxy, a source address, TLS or
 * `--format prometheus` (the dial stack and the metrics stay on this thread:
 * a worker gets only plain data, and a TLS connection has its read pending
 * like `--expect`). The steps case because, measured on Deno 2.9.6, a worker
 * holding thousands of open connections with a read pending misses most of
 * their resets (5,000 reset at once: ~3,750 reads never settled until their
 * deadline; tests/hostile_test.ts), while this thread sees every one. A
 * connect-only worker has at most 128 operations pending, as this thread does.
 */
function workerCount(plan: ProbePlan, resolved: Resolved): number {
  const total = plan.targets.length;
  if (hasSteps(plan)) return 1;
  if (!isPlainRoute(plan.route) || plan.format === "prometheus") return 1;
  const asked = plan.workers ?? (total >= WORKER_THRESHOLD ? DEFAULT_WORKERS : 1);
  if (asked <= 1) return 1;
  for (const found of resolved.values()) {
    if (found.address === null) return 1;
    const host = found.address.includes(":") ? `[${found.address}]` : found.address;
    if (Deno.permissions.querySync({ name: "net", host }).state !== "granted") return 1;
  }
  return Math.max(1, Math.min(asked, total));
}

/**
 * Descriptors one worker thread takes before it opens a socket: measured on
 * Deno 2.9.6, 6 to 8 (its copies of stdin/stdout/stderr, its event loop's
 * epoll and eventfd, module files while loading). Deno panics, uncatchably,
 * when a worker cannot get them (`ulimit -n 64 ... --workers 16`), so the
 * count is checked before any worker starts.
 */
const FDS_PER_WORKER = 8;
/** Descriptors left for this thread's sockets and the runtime when workers start. */
const FDS_KEPT = 16;

/**
 * Lowers the worker count to what the free descriptors allow (each worker
 * needs {@linkcode FDS_PER_WORKER}), counted by opening /dev/null; when that
 * is refused, from the soft limit if known. 1 means this thread only.
 */
async function capWorkers(
  workers: number,
  asked: number | null,
  limit: FdLimit | undefined,
): Promise<number> {
  if (workers <= 1) return workers;
  const want = workers * FDS_PER_WORKER + FDS_KEPT;
  // Without /dev/null, guess from the limit: the runtime itself holds about 20.
  const free = await countFreeFds({ max: want }) ??
    (limit === undefined ? want : Math.max(0, limit.soft - 20));
  const fit = Math.max(1, Math.min(workers, Math.floor((free - FDS_KEPT) / FDS_PER_WORKER)));
  if (fit < workers) {
    const how = fit === 1 ? "this thread only" : `${fit} workers`;
    log("probe").warn(
      `${
        asked === null ? `${workers} workers need` : `--workers ${asked} needs`
      } about ${want} free file descriptors, ${free} are free${
        limit === undefined ? "" : ` (ulimit -n ${limit.soft})`
      }: using ${how}`,
    );
  }
  return fit < 2 ? 1 : fit;
}

async function probe(plan: ProbePlan, ctx: CommandContext): Promise<number> {
  const logger = log("probe");
  const started = performance.now();
  const total = plan.targets.length;
  let maxOpen = plan.concurrency;
  const limit = await readFdLimit();
  if (limit !== undefined) {
    // Leave room for the runtime's own descriptors (epoll, eventfd, stdio, V8).
    const room = Math.max(1, limit.soft - 64);
    if (room < maxOpen) {
      logger.warn(
        `-c ${maxOpen} exceeds the file descriptor limit (ulimit -n ${limit.soft}): using ${room}`,
      );
      maxOpen = room;
    }
  }
  const resolved = await resolveHosts(plan, ctx.signal);
  const workers = await capWorkers(workerCount(plan, resolved), plan.workers, limit);
  logger.info(
    `${total} targets, ${maxOpen} at once (${
      Math.min(maxOpen, MAX_CONNECTS_IN_FLIGHT)
    } connects in flight per thread), ${workers} thread${workers === 1 ? "" : "s"}, timeout ${
      formatDuration(plan.timeoutMs)
    }, fd limit ${
      limit === undefined ? "unknown (learned from EMFILE)" : `${limit.soft} (${limit.source})`
    }`,
  );

  const width = Math.min(
    48,
    Math.max(6, ...plan.targets.slice(0, 10_000).map((t) => joinHostPort(t.host, t.port).length)),
  );
  if (plan.format === "text") ctx.out(formatProbeHeader(width));
  const tally: Tally = { counts: {}, done: 0, denied: null, events: 0 };
  let fdWarned = false;
  const setup: RunSetup = {
    plan,
    ctx,
    resolved,
    maxOpen,
    width,
    tally,
    metrics: plan.format === "prometheus" ? new Array(total) : null,
    warnFdLimit: (cap) => {
      if (fdWarned) return;
      fdWarned = true;
      logger.warn(
        `out of file descriptors (EMFILE) with ${cap} sockets in use: continuing with at most ${cap} at once (raise ulimit -n or lower -c)`,
      );
    },
  };
  // A progress line now and then, only for people watching a long run.
  let progress: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    const elapsed = formatDuration(performance.now() - started);
    ctx.err(`probe: ${tally.done}/${total} done, ${tally.counts.open ?? 0} open, ${elapsed}`);
    progress = setTimeout(tick, 2000);
  };
  if (ctx.stderrIsTerminal) progress = setTimeout(tick, 2000);
  try {
    if (workers > 1) await probeInWorkers(setup, workers);
    else await probeHere(setup);
  } finally {
    clearTimeout(progress);
  }

  const elapsedMs = performance.now() - started;
  const counts = tally.counts;
  if (plan.format === "text") ctx.out(formatProbeSummary(counts, elapsedMs));
  if (setup.metrics !== null) ctx.out(renderPrometheus(setup.metrics).trimEnd());
  logger.info(
    `${tally.done} targets in ${formatDuration(elapsedMs)} (${
      Math.round(tally.done / (elapsedMs / 1000))
    }/s)${workers > 1 ? "" : `, ${tally.events} events`}`,
  );
  const open = counts.open ?? 0;
  if (open === total) return 0;
  // The sandbox refusing a target is a set-up problem, not a state of the port.
  if (tally.denied !== null) throw tally.denied;
  if (open + (counts.mismatch ?? 0) === total) return 6;
  return 1;
}

/** The whole run on this thread's readiness loop. */
async function probeHere(setup: RunSetup): Promise<void> {
  const { plan, ctx, resolved, width, tally } = setup;
  const total = plan.targets.length;
  // Records come out in target order: a finished line waits for the ones before it.
  const pending = new Map<number, string>();
  let nextEmit = 0;
  // Lines go out in batches (at most 512 lines or 100 ms apart): one write per
  // record is one syscall each, a large share of a 65,535-port sweep.
  let batch: string[] = [];
  let stopFlushTimer: (() => void) | null = null;
  const flush = () => {
    stopFlushTimer?.();
    stopFlushTimer = null;
    if (batch.length === 0) return;
    const text = batch.join("\n");
    batch = [];
    ctx.out(text);
  };
  const expects = plan.steps.some((step) => step.kind.startsWith("expect")) ||
    plan.preset !== null;
  const finish = (index: number, record: ProbeRecord) => {
    tally.done++;
    tally.counts[record.state] = (tally.counts[record.state] ?? 0) + 1;
    if (setup.metrics !== null) {
      setup.metrics[index] = probeMetrics(record, expects);
      return;
    }
    pending.set(index, plan.json ? JSON.stringify(record) : formatProbeRow(record, width));
    for (let line = pending.get(nextEmit); line !== undefined; line = pending.get(nextEmit)) {
      pending.delete(nextEmit++);
      batch.push(line);
    }
    if (tally.done === total) flush();
    else if (batch.length >= 512) flush();
    else if (batch.length > 0 && stopFlushTimer === null) {
      stopFlushTimer = shard.mux.after(100, () => {
        stopFlushTimer = null;
        flush();
      });
    }
  };
  let nextTarget = 0;
  const next = (): ShardTarget | undefined => {
    while (nextTarget < total) {
      const index = nextTarget++;
      const { host, port } = plan.targets[index]!;
      const found = resolved.get(host)!;
      if (found.address !== null) {
        return { index, host, port, ip: found.address, resolveMs: found.ms };
      }
      // A lookup the sandbox refused is the run's failure (exit 5), as elsewhere.
      if (errorKind(found.error) === "denied") tally.denied ??= found.error;
      finish(index, dnsErrorRecord(host, port, found));
    }
    return undefined;
  };
  const dialer = routeDialer({
    route: plan.route,
    ...(plan.certDays === null ? {} : { certDays: plan.certDays }),
  });
  const shard = new ProbeShard({
    ...(dialer === undefined ? {} : { dialer }),
    signal: ctx.signal,
    timeoutMs: plan.timeoutMs,
    steps: stepsOf(plan),
    maxOpen: setup.maxOpen,
    next,
    onRecord: (index, record, failure) => {
      if (failure !== null && errorKind(failure) === "denied") tally.denied ??= failure;
      finish(index, record);
    },
    onFdLimit: setup.warnFdLimit,
  });
  try {
    await shard.run();
  } finally {
    flush();
    tally.events = shard.mux.stats.events;
  }
}

/** Where a failed probe stopped, for `probe_failure_info{phase}`. */
function failurePhase(record: ProbeRecord): string {
  switch (record.state) {
    case "dns-error":
      return "resolve";
    case "tls":
    case "proxy":
      return record.state;
    case "mismatch":
      return "dialog";
    default:
      // A timeout after the connect is the reply's.
      return record.timings.connectMs !== null ? "dialog" : "connect";
  }
}

/**
 * One target's record as Prometheus metrics (lib/report/prometheus.ts).
 *
 * @example
 * ```ts
 * import { probeMetrics } from "./probe.ts";
 * import type { ProbeRecord } from "../report/probe_table.ts";
 * declare const record: ProbeRecord;
 * console.log(probeMetrics(record, false).success);
 * ```
 */
export function probeMetrics(record: ProbeRecord, expects: boolean): ProbeMetrics {
  const address = record.address;
  return {
    target: record.target,
    success: record.state === "open",
    durationMs: record.timings.totalMs,
    resolveMs: record.timings.resolveMs,
    connectMs: record.timings.connectMs,
    tlsMs: record.timings.tlsMs,
    firstByteMs: record.timings.firstByteMs,
    // Through a proxy the address is the target's name: no family to tell.
    ipProtocol: address === null || record.proxy !== null ? null : address.startsWith("[") ? 6 : 4,
    tls: record.tls,
    failedDueToRegex: expects ? record.state === "mismatch" : null,
    failure: record.state === "open" ? null : {
      phase: failurePhase(record),
      reason: record.error?.kind ?? record.state,
      step: record.step,
    },
  };
}

/**
 * The run split over worker threads (lib/net/probe_worker.ts) in chunks of
 * consecutive targets, handed out as workers finish them; output goes out
 * chunk by chunk in target order. At most `workers * 4` chunks are out past
 * the first unprinted one, so memory stays bounded on any run length.
 */
async function probeInWorkers(setup: RunSetup, workers: number): Promise<void> {
  const { plan, ctx, resolved, tally } = setup;
  const targets = plan.targets;
  const total = targets.length;
  const hostIds = new Map<string, number>();
  const hosts: ProbeWorkerInit["hosts"] = [];
  for (const [host, found] of resolved) {
    hostIds.set(host, hosts.length);
    hosts.push({ host, ip: found.address!, resolveMs: found.ms ?? 0 });
  }
  const chunkSize = Math.max(64, Math.min(CHUNK_SIZE, Math.ceil(total / (workers * 8))));
  const chunkCount = Math.ceil(total / chunkSize);
  const maxAhead = workers * 4;
  const init: ProbeWorkerInit = {
    type: "init",
    timeoutMs: plan.timeoutMs,
    // -c is for the whole run: each worker gets its share.
    maxOpen: Math.max(1, Math.floor(setup.maxOpen / workers)),
    json: plan.json,
    width: setup.width,
    hosts,
  };
  const threads: Worker[] = [];
  const assigned: number[] = [];
  const results = new Map<number, string>();
  let nextSeq = 0;
  let nextEmit = 0;
  let onAbort = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      onAbort = () => reject(ctx.signal.reason);
      ctx.signal.addEventListener("abort", onAbort);
      if (ctx.signal.aborted) return onAbort();
      const post = (w: number) => {
        while (assigned[w]! < 2 && nextSeq < chunkCount && nextSeq - nextEmit < maxAhead) {
          const seq = nextSeq++;
          const start = seq * chunkSize;
          const n = Math.min(chunkSize, total - start);
          const chunk: ProbeWorkerChunk = {
            type: "chunk",
            seq,
            start,
            hostIds: new Uint32Array(n),
            ports: new Uint16Array(n),
          };
          for (let i = 0; i < n; i++) {
            const target = targets[start + i]!;
            chunk.hostIds[i] = hostIds.get(target.host)!;
            chunk.ports[i] = target.port;
          }
          assigned[w]!++;
          threads[w]!.postMessage(chunk);
        }
      };
      const onDone = (w: number, message: ProbeWorkerDone) => {
        assigned[w]!--;
        for (const [state, n] of Object.entries(message.counts)) {
          const key = state as ProbeState;
          tally.counts[key] = (tally.counts[key] ?? 0) + n;
          tally.done += n;
        }
        if (message.denied !== null && tally.denied === null) {
          tally.denied = toNetError(
            new Deno.errors.NotCapable(`Requires net access to "${message.denied}"`),
            { op: "connect", address: message.denied },
          );
        }
        results.set(message.seq, message.text);
        for (let text = results.get(nextEmit); text !== undefined; text = results.get(nextEmit)) {
          results.delete(nextEmit++);
          ctx.out(text);
        }
        if (nextEmit === chunkCount) return resolve();
        for (let i = 0; i < threads.length; i++) post(i);
      };
      for (let w = 0; w < workers; w++) {
        const worker = new Worker(new URL("../net/probe_worker.ts", import.meta.url), {
          type: "module",
        });
        threads.push(worker);
        assigned.push(0);
        worker.onmessage = (event: MessageEvent) => {
          const message = event.data as ProbeWorkerDone | { type: "fd-limit"; cap: number } | {
            type: "failed";
            message: string;
          };
          // An event handler's exception would be uncaught (a crash with a
          // stack trace): a failed write, e.g. stdout closed by `| head`,
          // ends the run through the promise like any other failure.
          try {
            if (message.type === "done") onDone(w, message);
            else if (message.type === "fd-limit") setup.warnFdLimit(message.cap);
            else reject(new Error(`probe worker failed: ${message.message}`));
          } catch (err) {
            reject(err);
          }
        };
        worker.onerror = (event: ErrorEvent) => {
          event.preventDefault();
          reject(event.error ?? new Error(`probe worker failed: ${event.message}`));
        };
        worker.postMessage(init);
      }
      for (let w = 0; w < workers; w++) post(w);
    });
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    for (const worker of threads) worker.terminate();
  }
}

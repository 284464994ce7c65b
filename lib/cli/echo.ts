/**
 * `tcpc echo HOST PORT`: send messages over one or many connections, check
 * every reply by content (the message itself, or `--expect`), measure round
 * trips, then half-close, read to EOF and close each connection (the shutdown
 * sequence of the reference recipe).
 *
 * @module
 */

import type { ProxyFacts, TlsFacts } from "../facts.ts";
import { TLS_FLAGS } from "./tls_flags.ts";
import { ROUTE_FLAGS } from "./proxy_flags.ts";
import { routeDialer, type RoutePlan, routePlan } from "./route.ts";
import { type ErrorKind, errorKind, UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { joinHostPort } from "../net/address.ts";
import { deadlineSignal } from "../net/deadline.ts";
import {
  type EchoFailure,
  type EchoRunOptions,
  type EchoRunResult,
  runEchoLoad,
} from "../net/echo_driver.ts";
import { type ErrorRecord, errorRecord } from "../report/error_record.ts";
import type { HistogramSummary } from "../report/histogram.ts";
import { escapeBytes } from "../report/safe_text.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  familyFlag,
  intFlag,
  parseCommandLine,
  type ParsedArgs,
  prepareCommand,
  stringFlag,
  stringsFlag,
} from "./args.ts";
import {
  DIAL_FLAGS,
  ESCAPES,
  type FlagTable,
  helpText,
  parseConfig,
  reportFlags,
  withHelp,
} from "./flags.ts";
import { exitCodesHelp } from "./exit_help.ts";
import { roundMs, roundRate, roundUs } from "../report/numbers.ts";
import type { ParseConfig } from "./arg_tokens.ts";
import type { CommandContext } from "./context.ts";
import { formatDuration } from "../report/duration.ts";
import { parseEscapes } from "./escape.ts";
import { checkFamily, parseHostPort } from "./target.ts";

/**
 * The flags of `tcpc echo`: the one source of its parse config, `--help`
 * and README table.
 *
 * @example
 * ```ts
 * import { ECHO_TABLE } from "./echo.ts";
 * console.log(ECHO_TABLE.find((flag) => flag.short === "c")?.name); // connections
 * ```
 */
export const ECHO_TABLE: FlagTable = [
  {
    name: "message",
    short: "m",
    type: "string",
    multiple: true,
    value: "TEXT",
    help: 'a message to send (repeatable, used in turn; default: "data1\\n" and "data2\\n")',
    doc: "a message to send. Repeat the flag to give several; they are sent in turn. Escapes " +
      `are the same as \`--data\`: \`${ESCAPES}\`. Default: \`data1\\n\` and \`data2\\n\``,
    section: "messages",
  },
  {
    name: "size",
    type: "string",
    value: "BYTES",
    help: "random payloads of BYTES bytes instead of --message",
    doc: "send random payloads of BYTES bytes (1 B to 256 MiB) instead of `--message`. Up to " +
      "16 different payloads are used in turn, so a reply that comes back for the wrong " +
      "message is caught",
    section: "messages",
  },
  {
    name: "expect",
    type: "string",
    value: "TEXT",
    help: "every reply must be TEXT (default: the message itself)",
    doc: "every reply must equal TEXT, for request/response services (redis `PING` -> " +
      "`+PONG\\r\\n`). Default: every reply must equal its own message (echo)",
    section: "messages",
  },
  {
    name: "count",
    short: "n",
    type: "string",
    value: "N",
    help: "messages per connection (default: one of each message)",
    doc: "messages per connection. Default: one of each `--message` (one for `--size`)",
    section: "load",
  },
  {
    name: "duration",
    type: "string",
    value: "DUR",
    help: "send for DUR instead of a count, then finish the replies",
    doc: "send until DUR has passed instead of a count, then wait for the replies in flight " +
      "and shut down as usual. Not an error when it ends",
    section: "load",
  },
  {
    name: "connections",
    short: "c",
    type: "string",
    value: "N",
    help: "connections at once (default: 1)",
    doc: "connections at once (1 to 100000; at most 128 connects are in flight at a time). " +
      "Default 1",
    section: "load",
  },
  {
    name: "pipeline",
    type: "string",
    value: "N",
    help: "messages in flight per connection (default: 1)",
    doc: "messages in flight per connection. Default 1: send, wait for the reply, send the " +
      "next. With N > 1, every free slot is filled and the messages go out together in one " +
      "write",
    section: "load",
  },
  ...withHelp(DIAL_FLAGS, {
    "connect-timeout": {
      doc: "give up on each connect after DUR. Default: the kernel's limit (`tcp_syn_retries`)",
    },
  }),
  {
    name: "timeout",
    short: "t",
    type: "string",
    value: "DUR",
    help: "each reply, and the peer's EOF after our half-close, must come within DUR " +
      "(default: 10s)",
    doc: "each reply must be complete within DUR, counted from its message's send or from " +
      "the previous reply, whichever is later. It also bounds the wait for the peer's EOF " +
      "after our half-close. Default 10s",
    section: "deadlines",
  },
  {
    name: "deadline",
    type: "string",
    value: "DUR",
    help: "the whole run takes at most DUR",
    doc: "the whole run takes at most DUR. When it fires, everything is closed, the report so " +
      "far is printed, and tcpc exits 4",
    section: "deadlines",
  },
  ...TLS_FLAGS,
  ...ROUTE_FLAGS,
  ...reportFlags({
    verbose: "-v info, -vv also every sent:/recv: chunk (for small runs)",
    verboseDoc: "`-v` logs each connection's life (connected, half-close, closed). `-vv` also " +
      'logs every chunk, e.g. `conn 1: sent: 6 bytes "data1\\n"` and `conn 1: recv: ...`, ' +
      "with control characters escaped. It writes one line per chunk, so keep it for small runs",
  }),
];

/**
 * Usage text of `tcpc echo`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { echoHelp } from "./echo.ts";
 * console.log(echoHelp().split("\n")[0]);
 * ```
 */
export function echoHelp(): string {
  return helpText({
    usage: "Usage: tcpc echo HOST PORT [options]",
    summary: `Send messages, check that every reply is right, and measure round trips, over
one or many connections. After the last reply each connection half-closes,
reads to EOF and closes.`,
    table: ECHO_TABLE,
    footer: exitCodesHelp({
      meanings: {
        0: "every reply right",
        1: "refused, reset or closed early",
        4: "a reply (or EOF) never came, or --deadline",
        6: "a reply differed",
      },
    }),
  });
}

/**
 * The flags of `tcpc echo`, for parseCommandLine() (lib/cli/args.ts).
 *
 * @example Parse a command line with them
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * import { ECHO_FLAGS } from "./echo.ts";
 * parseCommandLine(["--json"], { options: ECHO_FLAGS });
 * ```
 */
export const ECHO_FLAGS: ParseConfig = parseConfig(ECHO_TABLE);

/** The recipe's two messages. */
const DEFAULT_MESSAGES = ["data1\\n", "data2\\n"];
/** Default per-reply timeout, ms. */
const DEFAULT_REPLY_TIMEOUT_MS = 10_000;
/** Largest `--size`: one message and its reply are held in memory. */
const MAX_SIZE = 256 * 1024 * 1024;
/**
 * Most bytes in flight on one connection (message size x `--pipeline`): what
 * the peer must buffer, and what one reply timeout must cover.
 */
const MAX_IN_FLIGHT_BYTES = 1024 * 1024 * 1024;
/** Random payloads made for `--size` (each different, so crossed replies show). */
const SIZE_POOL = 16;
/** Memory spent on the `--size` pool at most. */
const SIZE_POOL_BYTES = 64 * 1024 * 1024;

/** Everything `tcpc echo` was asked to do, validated. */
export interface EchoPlan {
  /** Host as given (brackets removed). */
  host: string;
  /** Port. */
  port: number;
  /** Messages to send in turn. */
  messages: Uint8Array[];
  /** How the messages were given: `message` (text) or `size` (random). */
  source: "message" | "size";
  /** The reply every message must get; unset: the message itself. */
  expect?: Uint8Array;
  /** Messages per connection; Infinity with `--duration`. */
  count: number;
  /** Send for this long instead of a count, ms. */
  durationMs?: number;
  /** Connections at once. */
  connections: number;
  /** Messages in flight per connection. */
  pipeline: number;
  /** Connect timeout, ms. */
  connectTimeoutMs?: number;
  /** Per-reply (and EOF-after-half-close) timeout, ms. */
  replyTimeoutMs: number;
  /** Whole-run deadline, ms. */
  deadlineMs?: number;
  /** Address family. */
  family?: 4 | 6;
  /** JSON output. */
  json: boolean;
  /** 0, 1 (-v) or 2 (-vv). */
  verbosity: number;
  /** How the target is reached: proxy, source, TLS. */
  route: RoutePlan;
}

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined) {
  if (value !== undefined) target[key] = value;
}

function randomPayloads(size: number, count: number): Uint8Array[] {
  const pool = Math.max(1, Math.min(SIZE_POOL, count, Math.floor(SIZE_POOL_BYTES / size)));
  return Array.from({ length: pool }, () => {
    const bytes = new Uint8Array(size);
    // getRandomValues fills at most 65536 bytes per call.
    for (let at = 0; at < size; at += 65536) {
      crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
    }
    return bytes;
  });
}

/**
 * Validates a `tcpc echo` command line into a plan; throws a
 * {@linkcode UsageError} for the first bad value. Opens no socket.
 *
 * @example
 * ```ts
 * import { planEcho } from "./echo.ts";
 * const plan = await planEcho(["127.0.0.1", "7007", "-c", "10", "-n", "100"]);
 * console.log(plan.connections, plan.count); // 10 100
 * ```
 */
export async function planEcho(argv: string[]): Promise<EchoPlan> {
  return await planFromArgs(
    parseCommandLine(argv, { options: ECHO_FLAGS, command: "tcpc echo" }),
  );
}

async function planFromArgs(args: ParsedArgs): Promise<EchoPlan> {
  const { host, port } = parseHostPort(args.positionals, "echo");
  const texts = stringsFlag(args, "message");
  const size = intFlag(args, "size", { min: 1, max: MAX_SIZE });
  if (texts.length > 0 && size !== undefined) {
    throw new UsageError("conflicting flags --message and --size: give only one");
  }
  const countGiven = intFlag(args, "count", { min: 1 });
  const durationMs = durationFlag(args, "duration");
  if (countGiven !== undefined && durationMs !== undefined) {
    throw new UsageError("conflicting flags --count and --duration: give only one");
  }
  if (durationMs === 0) throw new UsageError(`invalid --duration "0": must be more than 0`);
  const family = familyFlag(args);
  checkFamily(host, family);
  const count = durationMs !== undefined ? Infinity : countGiven;
  const pipeline = intFlag(args, "pipeline", { min: 1, max: 65_536 }) ?? 1;
  // The window is checked before the payloads are made (a 256 MiB one takes a while).
  const checkInFlight = (largest: number) => {
    if (largest * pipeline <= MAX_IN_FLIGHT_BYTES) return;
    const given = size !== undefined ? `--size ${size}` : `--message of ${largest} bytes`;
    throw new UsageError(
      `${given} with --pipeline ${pipeline} puts ${
        largest * pipeline
      } bytes in flight per connection: at most ${MAX_IN_FLIGHT_BYTES} (1 GiB)`,
    );
  };
  let messages: Uint8Array[];
  if (size !== undefined) {
    checkInFlight(size);
    messages = randomPayloads(size, count ?? 1);
  } else {
    messages = (texts.length > 0 ? texts : DEFAULT_MESSAGES).map((text) => {
      const bytes = parseEscapes(text, "--message");
      if (bytes.length === 0) {
        throw new UsageError(`invalid --message "": empty (no reply could be recognised)`);
      }
      return bytes;
    });
    checkInFlight(messages.reduce((max, m) => Math.max(max, m.length), 0));
  }
  const expectText = stringFlag(args, "expect");
  const replyTimeoutMs = durationFlag(args, "timeout") ?? DEFAULT_REPLY_TIMEOUT_MS;
  if (replyTimeoutMs === 0) throw new UsageError(`invalid --timeout "0": must be more than 0`);
  const plan: EchoPlan = {
    host,
    port,
    messages,
    source: size !== undefined ? "size" : "message",
    count: count ?? (size !== undefined ? 1 : messages.length),
    connections: intFlag(args, "connections", { min: 1, max: 100_000 }) ?? 1,
    pipeline,
    replyTimeoutMs,
    json: boolFlag(args, "json"),
    verbosity: countFlag(args, "verbose"),
    route: await routePlan(args, { host }),
  };
  if (expectText !== undefined) {
    const expect = parseEscapes(expectText, "--expect");
    if (expect.length === 0) {
      throw new UsageError(`invalid --expect "": empty (no reply could be recognised)`);
    }
    plan.expect = expect;
  }
  setIf(plan, "durationMs", durationMs);
  setIf(plan, "connectTimeoutMs", durationFlag(args, "connect-timeout"));
  setIf(plan, "deadlineMs", durationFlag(args, "deadline"));
  if (family !== undefined) plan.family = family;
  return plan;
}

/** The JSON record of one `tcpc echo` run (schema in README). */
export interface EchoRecord {
  /** What was asked for. */
  target: { host: string; port: number };
  /** The load asked for: count is null with `--duration`. */
  load: {
    connections: number;
    count: number | null;
    durationMs: number | null;
    pipeline: number;
    messageBytes: number[];
    expectBytes: number | null;
  };
  /** Connections: attempted, connected, finished cleanly (every reply right, EOF seen). */
  connections: { attempted: number; connected: number; ok: number; failed: number };
  /** Messages written, and replies that came back complete and right. */
  messages: { sent: number; verified: number };
  /** Bytes written and read; leftover: read after the last reply (in `leftoverConnections`). */
  bytes: { sent: number; received: number; leftover: number; leftoverConnections: number };
  /** Wall time of the whole run (first connect to last close), ms. */
  elapsedMs: number;
  /** Verified replies and bytes per second of `elapsedMs`. */
  rate: { messagesPerSec: number; sentBytesPerSec: number; receivedBytesPerSec: number };
  /** Round-trip time of verified replies, microseconds. */
  rttUs: HistogramSummary;
  /** Time to connect (resolve excluded; with layers until the top one was ready), microseconds. */
  connectUs: HistogramSummary;
  /** The first connection's phase times, ms (null: the phase did not happen). */
  timings: { connectMs: number | null; proxyMs: number | null; tlsMs: number | null };
  /** What TLS learned on the first connection (or on the first that failed in TLS), or null. */
  tls: TlsFacts | null;
  /** The proxy gone through, or null. */
  proxy: ProxyFacts | null;
  /** Failed connections by error kind (only kinds that occurred). */
  errors: Partial<Record<ErrorKind, number>>;
  /** The first reply that differed, or null. */
  mismatch: (EchoFailure["mismatch"] & { connection: number }) | null;
  /** The error that decides the exit code, or null. */
  error: ErrorRecord | null;
}

/** Exit-code precedence when connections fail differently: the first listed wins. */
const PRECEDENCE: readonly ErrorKind[] = [
  "interrupted",
  "terminated",
  "denied",
  "verify",
  "timeout",
  "dns",
];

/**
 * The error that decides the run's exit code: a run-wide abort (signal,
 * `--deadline`) first, then by kind (verify before timeout before the rest),
 * the earliest connection within a kind.
 */
function decisiveError(result: EchoRunResult): unknown {
  if (result.aborted !== null) return result.aborted;
  let best: EchoFailure | undefined;
  let bestRank = Infinity;
  for (const failure of result.failures) {
    const rank = PRECEDENCE.indexOf(errorKind(failure.error));
    const r = rank === -1 ? PRECEDENCE.length : rank;
    if (r < bestRank) {
      best = failure;
      bestRank = r;
    }
  }
  return best?.error ?? null;
}

/** Histogram values are whole microseconds already; the mean is not. */
function roundSummary(summary: HistogramSummary): HistogramSummary {
  return { ...summary, meanUs: roundUs(summary.meanUs) };
}

function perSecond(amount: number, ms: number): number {
  return ms > 0 ? amount / (ms / 1000) : 0;
}

/**
 * Builds the JSON record of a run.
 *
 * @example
 * ```ts
 * import { echoRecord, planEcho } from "./echo.ts";
 * import type { EchoRunResult } from "../net/echo_driver.ts";
 * declare const result: EchoRunResult;
 * console.log(JSON.stringify(echoRecord(await planEcho(["127.0.0.1", "7007"]), result)));
 * ```
 */
export function echoRecord(plan: EchoPlan, result: EchoRunResult): EchoRecord {
  const errors: Partial<Record<ErrorKind, number>> = {};
  let mismatch: EchoRecord["mismatch"] = null;
  for (const failure of result.failures) {
    const kind = errorKind(failure.error);
    errors[kind] = (errors[kind] ?? 0) + 1;
    if (failure.mismatch && mismatch === null) {
      mismatch = { connection: failure.connection, ...failure.mismatch };
    }
  }
  const decisive = decisiveError(result);
  return {
    target: { host: plan.host, port: plan.port },
    load: {
      connections: plan.connections,
      count: Number.isFinite(plan.count) ? plan.count : null,
      durationMs: plan.durationMs ?? null,
      pipeline: plan.pipeline,
      messageBytes: plan.source === "size"
        ? [plan.messages[0]?.length ?? 0]
        : plan.messages.map((m) => m.length),
      expectBytes: plan.expect?.length ?? null,
    },
    connections: {
      attempted: result.attempted,
      connected: result.connected,
      ok: result.ok,
      failed: result.failures.length,
    },
    messages: { sent: result.messagesSent, verified: result.verified },
    bytes: {
      sent: result.bytesSent,
      received: result.bytesReceived,
      leftover: result.leftoverBytes,
      leftoverConnections: result.leftoverConnections,
    },
    elapsedMs: roundMs(result.elapsedMs),
    rate: {
      messagesPerSec: roundRate(perSecond(result.verified, result.elapsedMs)),
      sentBytesPerSec: roundRate(perSecond(result.bytesSent, result.elapsedMs)),
      receivedBytesPerSec: roundRate(perSecond(result.bytesReceived, result.elapsedMs)),
    },
    rttUs: roundSummary(result.rtt.summary()),
    connectUs: roundSummary(result.connect.summary()),
    timings: {
      connectMs: roundMs(result.facts?.timings.connectMs ?? null),
      proxyMs: roundMs(result.facts?.timings.proxyMs ?? null),
      tlsMs: roundMs(result.facts?.timings.tlsMs ?? null),
    },
    tls: result.facts?.tls ?? result.failedTls,
    proxy: result.facts?.proxy ?? null,
    errors,
    mismatch,
    error: decisive === null ? null : errorRecord(decisive),
  };
}

function formatUs(us: number | null): string {
  if (us === null) return "-";
  if (us < 1000) return `${Math.round(us)}us`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`;
  return formatDuration(us / 1000);
}

function formatRate(bytesPerSec: number): string {
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let value = bytesPerSec;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function summaryLine(s: HistogramSummary): string {
  return `min ${formatUs(s.minUs)}  p50 ${formatUs(s.p50Us)}  p90 ${formatUs(s.p90Us)}  p99 ${
    formatUs(s.p99Us)
  }  max ${formatUs(s.maxUs)}  (n=${s.count})`;
}

/**
 * Renders the text report: one fact per line, for people.
 *
 * @example
 * ```ts
 * import { echoReportLines, echoRecord, planEcho } from "./echo.ts";
 * import type { EchoRunResult } from "../net/echo_driver.ts";
 * declare const result: EchoRunResult;
 * const plan = await planEcho(["127.0.0.1", "7007"]);
 * for (const line of echoReportLines(echoRecord(plan, result))) console.log(line);
 * ```
 */
export function echoReportLines(record: EchoRecord): string[] {
  const c = record.connections;
  const lines = [
    `echo ${joinHostPort(record.target.host, record.target.port)}: ${c.attempted} connection${
      c.attempted === 1 ? "" : "s"
    }, ${c.connected} connected, ${c.ok} ok, ${c.failed} failed`,
    `messages:   ${record.messages.sent} sent, ${record.messages.verified} verified`,
    `bytes:      ${record.bytes.sent} sent, ${record.bytes.received} received`,
    `time:       ${formatDuration(record.elapsedMs)}`,
    `rate:       ${Math.round(record.rate.messagesPerSec)} msgs/s, ${
      formatRate(record.rate.sentBytesPerSec)
    } out, ${formatRate(record.rate.receivedBytesPerSec)} in`,
    `rtt:        ${summaryLine(record.rttUs)}`,
    `connect:    ${summaryLine(record.connectUs)}`,
  ];
  if (record.bytes.leftover > 0) {
    lines.push(
      `leftover:   ${record.bytes.leftover} bytes after the last reply on ${record.bytes.leftoverConnections} connection${
        record.bytes.leftoverConnections === 1 ? "" : "s"
      } (the peer sent more than expected)`,
    );
  }
  const kinds = Object.entries(record.errors);
  if (kinds.length > 0) {
    lines.push(`errors:     ${kinds.map(([kind, n]) => `${kind} ${n}`).join(", ")}`);
  }
  return lines;
}

/**
 * Runs `tcpc echo`: validates, runs the load, prints the report (text or
 * JSON), and returns 0 when every reply was right, or throws the error that
 * decides the exit code (see the precedence in README).
 *
 * @example Check a local echo server with 10 connections
 * ```ts
 * import { runEcho } from "./echo.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * await runEcho(["127.0.0.1", "7007", "-c", "10", "-n", "100"], ctx);
 * ```
 */
export async function runEcho(argv: string[], ctx: CommandContext): Promise<number> {
  const plan = await prepareCommand(argv, ctx, {
    command: "tcpc echo",
    options: ECHO_FLAGS,
    help: echoHelp,
    plan: planFromArgs,
  });
  if (plan === null) return 0;
  const logger = log("echo");
  using deadline = deadlineSignal(ctx.signal, plan.deadlineMs);
  const options: EchoRunOptions = {
    messages: plan.messages,
    count: plan.count,
    connections: plan.connections,
    pipeline: plan.pipeline,
    replyTimeoutMs: plan.replyTimeoutMs,
    signal: deadline.signal,
  };
  setIf(options, "expect", plan.expect);
  setIf(options, "durationMs", plan.durationMs);
  setIf(options, "connectTimeoutMs", plan.connectTimeoutMs);
  setIf(options, "family", plan.family);
  setIf(
    options,
    "dialer",
    routeDialer({
      route: plan.route,
      base: plan.family === undefined ? {} : { family: plan.family },
    }),
  );
  // Through a proxy the name goes to the proxy's layer.
  if (plan.route.proxy !== null) options.resolveHere = false;
  if (plan.verbosity >= 2) {
    options.onSent = (connection, bytes) =>
      logger.debug(`conn ${connection}: sent: ${bytes.length} bytes "${preview(bytes)}"`);
    options.onReceived = (connection, bytes) =>
      logger.debug(`conn ${connection}: recv: ${bytes.length} bytes "${preview(bytes)}"`);
  }
  if (plan.verbosity >= 1) {
    options.onEvent = (connection, event) => logger.info(`conn ${connection}: ${event}`);
  }
  logger.info(
    `echo ${joinHostPort(plan.host, plan.port)}: ${plan.connections} connection(s), ${
      Number.isFinite(plan.count)
        ? `${plan.count} message(s) each`
        : `for ${formatDuration(plan.durationMs ?? 0)}`
    }, pipeline ${plan.pipeline}, reply timeout ${formatDuration(plan.replyTimeoutMs)}`,
  );
  const result = await runEchoLoad(plan.host, plan.port, options);
  const record = echoRecord(plan, result);
  if (plan.json) ctx.out(JSON.stringify(record));
  else for (const line of echoReportLines(record)) ctx.out(line);
  const decisive = decisiveError(result);
  if (decisive !== null) throw decisive;
  return 0;
}

function preview(bytes: Uint8Array): string {
  return escapeBytes(bytes, { maxBytes: 64 });
}

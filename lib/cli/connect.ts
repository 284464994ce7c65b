/**
 * `tcpc HOST PORT` / `tcpc connect HOST PORT`: one netcat-style session with
 * honest deadlines and a report of what happened.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { joinHostPort } from "../net/address.ts";
import type { Conn, ProxyFacts, TlsFacts } from "../net/conn.ts";
import type { DialOptions } from "../net/dial.ts";
import { dialStack } from "../net/stack.ts";
import { TlsError } from "../net/tls_error.ts";
import { tlsLines } from "../report/tls_text.ts";
import {
  dataField,
  flushOutput,
  openInputFile,
  recordSession,
  sessionOptions,
  type SessionTransfer,
} from "./session_io.ts";
import { ROUTE_FLAGS } from "./proxy_flags.ts";
import { type RoutePlan, routePlan, stackOptions } from "./route.ts";
import { TLS_FLAGS } from "./tls_flags.ts";
import { runSession, type SessionResult } from "../net/session.ts";
import { roundMs as toMicros } from "../report/numbers.ts";
import { errorRecord } from "../report/error_record.ts";
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
  stringFlag,
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
import type { ParseConfig } from "./arg_tokens.ts";
import { formatDuration } from "../report/duration.ts";
import { parseEscapes } from "./escape.ts";
import { checkFamily, parseHostPort } from "./target.ts";
import { deadlineSignal } from "../net/deadline.ts";
import { abortable } from "../net/abortable.ts";

/**
 * The flags of `tcpc connect`: the one source of its parse config, its
 * `--help` and its README table.
 *
 * @example List them
 * ```ts
 * import { CONNECT_TABLE } from "./connect.ts";
 * console.log(CONNECT_TABLE.map((flag) => flag.name).join(" "));
 * ```
 */
export const CONNECT_TABLE: FlagTable = [
  ...withHelp(DIAL_FLAGS, {
    "connect-timeout": {
      doc: "give up connecting after DUR, across all resolved addresses. Unset: the kernel's " +
        "limit (`-v` prints it; a DUR above it warns)",
    },
  }),
  {
    name: "timeout",
    short: "t",
    type: "string",
    value: "DUR",
    help: "after connect, no read or write may wait longer than DUR",
    doc: "after connect, no read or write may wait longer than DUR: a write blocked by a peer " +
      "that does not read, a write to stdout nobody reads, or a read waiting while nothing " +
      "else moves",
    section: "deadlines",
  },
  {
    name: "idle-timeout",
    short: "i",
    type: "string",
    value: "DUR",
    help: "close when no byte moved either way for DUR",
    doc: "close when no byte moved in either direction for DUR",
    section: "deadlines",
  },
  {
    name: "first-byte-timeout",
    type: "string",
    value: "DUR",
    help: "the peer's first byte must come within DUR of connect",
    doc: "the peer's first byte must arrive within DUR of the connect",
    section: "deadlines",
  },
  {
    name: "deadline",
    type: "string",
    value: "DUR",
    help: "the whole run, resolve to close, takes at most DUR",
    doc: "the whole run (resolve, connect, session) takes at most DUR",
    section: "deadlines",
  },
  {
    name: "quit-after-eof",
    short: "q",
    type: "string",
    value: "DUR",
    help: "after stdin EOF, read the reply for at most DUR (default: until the peer closes)",
    doc: "after stdin EOF (and the half-close) read the reply for at most DUR, then close " +
      "(exit 0). Default: read until the peer closes, bounded by the deadlines above. " +
      "Through `--proxy` stdin EOF does not half-close (some proxies drop the tunnel on it): " +
      "give `-q` to end the session",
    section: "deadlines",
  },
  {
    name: "data",
    short: "d",
    type: "string",
    value: "TEXT",
    help: `send TEXT (escapes ${ESCAPES}) instead of stdin`,
    doc: "send TEXT instead of stdin; escapes `\\r \\n \\t \\0 \\\\ \\xHH`",
    section: "data",
  },
  {
    name: "file",
    short: "f",
    type: "string",
    value: "PATH",
    help: "send the file PATH instead of stdin",
    doc: "send the file instead of stdin (checked before any socket opens)",
    section: "data",
  },
  { name: "crlf", short: "C", type: "boolean", help: "send LF as CRLF", section: "data" },
  {
    name: "zero-io",
    short: "z",
    type: "boolean",
    help: "connect, close, report; send nothing",
    section: "data",
  },
  {
    name: "max-bytes",
    type: "string",
    value: "N",
    help: "stop after receiving N bytes (--json default: 1048576)",
    doc: "stop after receiving N bytes (close: `local`). With `--json` the default is 1048576",
    section: "data",
  },
  {
    name: "nodelay",
    type: "boolean",
    help: "disable Nagle's algorithm",
    doc: "TCP_NODELAY: disable Nagle's algorithm",
    section: "connection",
  },
  {
    name: "keepalive",
    type: "boolean",
    help: "enable TCP keepalive",
    doc: "SO_KEEPALIVE (the kernel's keepalive timings apply: see `tcpc kernel`)",
    section: "connection",
  },
  {
    name: "hex",
    short: "x",
    type: "boolean",
    help: "hex dump of the traffic on stderr",
    doc: "hex dump of the traffic on stderr (`>` sent, `<` received)",
    section: "output",
  },
  ...TLS_FLAGS,
  ...ROUTE_FLAGS,
  ...reportFlags({
    json: "one JSON object on stdout instead of the data",
    verbose: "-v info, -vv debug (on stderr)",
    verboseDoc: "`-v` info (connect timeout and the kernel's maximum, addresses, close), `-vv` " +
      "debug (`sent: N bytes` / `recv: N bytes` with an escaped preview, the half-close)",
  }),
];

/**
 * Usage text of `tcpc connect`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { connectHelp } from "./connect.ts";
 * console.log(connectHelp().split("\n")[0]);
 * ```
 */
export function connectHelp(): string {
  return helpText({
    usage: "Usage: tcpc HOST PORT [options]\n       tcpc connect HOST PORT [options]",
    summary: "Send stdin to HOST:PORT and write what comes back to stdout.",
    table: CONNECT_TABLE,
    footer: exitCodesHelp(),
  });
}

/**
 * The flags of `tcpc connect`, for parseCommandLine() (lib/cli/args.ts).
 *
 * @example Parse a command line with them
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * import { CONNECT_FLAGS } from "./connect.ts";
 * parseCommandLine(["--json"], { options: CONNECT_FLAGS });
 * ```
 */
export const CONNECT_FLAGS: ParseConfig = parseConfig(CONNECT_TABLE);

/** Everything `tcpc connect` was asked to do, validated. */
export interface ConnectPlan {
  /** Host as given (brackets removed). */
  host: string;
  /** Port. */
  port: number;
  /** What to send. */
  input:
    | { kind: "stdin" }
    | { kind: "data"; bytes: Uint8Array }
    | { kind: "file"; path: string }
    | {
      kind: "none";
    };
  /** Connect timeout, ms. */
  connectTimeoutMs?: number;
  /** Per-operation timeout, ms. */
  ioTimeoutMs?: number;
  /** Idle timeout, ms. */
  idleTimeoutMs?: number;
  /** First-byte timeout, ms. */
  firstByteTimeoutMs?: number;
  /** Whole-run deadline, ms. */
  deadlineMs?: number;
  /** Read time after stdin EOF, ms. */
  quitAfterEofMs?: number;
  /** Stop after this many received bytes. */
  maxBytes?: number;
  /** Address family. */
  family?: 4 | 6;
  /** Send LF as CRLF. */
  crlf: boolean;
  /** TCP_NODELAY. */
  noDelay: boolean;
  /** SO_KEEPALIVE. */
  keepAlive: boolean;
  /** JSON output. */
  json: boolean;
  /** Hex dump on stderr. */
  hex: boolean;
  /** 0, 1 (-v) or 2 (-vv). */
  verbosity: number;
  /** Proxy, PROXY header, source, TLS. */
  route: RoutePlan;
}

/** Most bytes a `--json` record carries (its `data` field), bytes. */
const JSON_MAX_BYTES = 64 * 1024 * 1024;

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined) {
  if (value !== undefined) target[key] = value;
}

/**
 * Validates a `tcpc connect` command line into a plan; throws a
 * {@linkcode UsageError} for the first bad value. Opens no socket.
 *
 * @example
 * ```ts
 * import { planConnect } from "./connect.ts";
 * const plan = await planConnect(["127.0.0.1", "7", "-w", "2s"]);
 * console.log(plan.connectTimeoutMs); // 2000
 * ```
 */
export async function planConnect(argv: string[]): Promise<ConnectPlan> {
  const args = parseCommandLine(argv, { options: CONNECT_FLAGS, command: "tcpc connect" });
  return await planFromArgs(args);
}

async function planFromArgs(args: ParsedArgs): Promise<ConnectPlan> {
  const { host, port } = parseHostPort(args.positionals, "connect");
  const family = familyFlag(args);
  checkFamily(host, family);
  const data = stringFlag(args, "data");
  const file = stringFlag(args, "file");
  const zero = boolFlag(args, "zero-io");
  const given = [
    data !== undefined && "--data",
    file !== undefined && "--file",
    zero && "--zero-io",
  ]
    .filter(Boolean);
  if (given.length > 1) {
    throw new UsageError(`conflicting flags ${given.join(" and ")}: give only one`);
  }
  if (file === "") throw new UsageError(`invalid --file "": empty path`);
  const plan: ConnectPlan = {
    host,
    port,
    input: data !== undefined
      ? { kind: "data", bytes: parseEscapes(data, "--data") }
      : file === "-" || file === "/dev/stdin"
      // /dev/stdin is a link into /proc, which Deno 2.9 guards with --allow-all.
      ? { kind: "stdin" }
      : file !== undefined
      ? { kind: "file", path: file }
      : zero
      ? { kind: "none" }
      : { kind: "stdin" },
    crlf: boolFlag(args, "crlf"),
    noDelay: boolFlag(args, "nodelay"),
    keepAlive: boolFlag(args, "keepalive"),
    json: boolFlag(args, "json"),
    hex: boolFlag(args, "hex"),
    verbosity: countFlag(args, "verbose"),
    route: await routePlan(args, { host }),
  };
  setIf(plan, "connectTimeoutMs", durationFlag(args, "connect-timeout"));
  setIf(plan, "ioTimeoutMs", durationFlag(args, "timeout"));
  setIf(plan, "idleTimeoutMs", durationFlag(args, "idle-timeout"));
  setIf(plan, "firstByteTimeoutMs", durationFlag(args, "first-byte-timeout"));
  setIf(plan, "deadlineMs", durationFlag(args, "deadline"));
  setIf(plan, "quitAfterEofMs", durationFlag(args, "quit-after-eof"));
  setIf(plan, "maxBytes", intFlag(args, "max-bytes", { min: 1 }));
  if (plan.json && plan.maxBytes === undefined) plan.maxBytes = 1024 * 1024;
  // --json always has a --max-bytes (set just above).
  if (plan.json && plan.maxBytes! > JSON_MAX_BYTES) {
    // The record holds what was received, as text or base64, in one string.
    throw new UsageError(
      `--max-bytes ${plan.maxBytes} with --json: at most ${JSON_MAX_BYTES} (64 MiB), since the JSON record carries the data`,
    );
  }
  setIf(plan, "family", family);
  return plan;
}

/** The JSON record of one `tcpc connect` run (schema in README). */
export interface ConnectRecord extends SessionTransfer {
  /** What was asked for. */
  target: { host: string; port: number };
  /** Every resolved address. */
  addresses: string[];
  /** The remote `ip:port` that answered, or null. */
  remote: string | null;
  /** Our `ip:port`, or null. */
  local: string | null;
  /** Per-phase times in ms; null when the phase did not happen. */
  timings: {
    resolveMs: number | null;
    connectMs: number | null;
    proxyMs: number | null;
    tlsMs: number | null;
    firstByteMs: number | null;
    totalMs: number;
  };
  /** The proxy the connection went through (never its credentials), or null. */
  proxy: ProxyFacts | null;
  /** What the TLS handshake learned, or null without TLS. */
  tls: TlsFacts | null;
}

/**
 * Runs `tcpc connect`: validates, dials, pumps, reports. Returns the exit code
 * 0 or throws the error that ended the run (after printing the JSON record when
 * `--json` was asked for).
 *
 * @example Ask for one reply from a local echo server
 * ```ts
 * import { runConnect } from "./connect.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * await runConnect(["127.0.0.1", "7", "-d", "hi\\n", "-w", "2s"], ctx);
 * ```
 */
export async function runConnect(argv: string[], ctx: CommandContext): Promise<number> {
  const plan = await prepareCommand(argv, ctx, {
    command: "tcpc connect",
    options: CONNECT_FLAGS,
    help: connectHelp,
    plan: planFromArgs,
  });
  if (plan === null) return 0;
  const started = performance.now();
  using deadline = deadlineSignal(ctx.signal, plan.deadlineMs);
  const file = plan.input.kind === "file"
    ? await openInputFile(plan.input.path, { signal: deadline.signal })
    : null;
  try {
    return await connect(plan, file, ctx, { signal: deadline.signal, started });
  } finally {
    file?.close();
  }
}

async function connect(
  plan: ConnectPlan,
  file: Deno.FsFile | null,
  ctx: CommandContext,
  run: { signal: AbortSignal; started: number },
) {
  const logger = log("connect");
  const started = run.started;
  const deadline = { signal: run.signal };
  const record: ConnectRecord = {
    target: { host: plan.host, port: plan.port },
    addresses: [],
    remote: null,
    local: null,
    timings: {
      resolveMs: null,
      connectMs: null,
      proxyMs: null,
      tlsMs: null,
      firstByteMs: null,
      totalMs: 0,
    },
    proxy: null,
    tls: null,
    bytesSent: 0,
    bytesReceived: 0,
    data: { text: "" },
    close: null,
    error: null,
  };
  const chunks: Uint8Array[] = [];
  let failure: unknown = null;
  let conn: Conn | undefined;
  try {
    const base: DialOptions = {
      signal: deadline.signal,
      noDelay: plan.noDelay,
      keepAlive: plan.keepAlive,
      onResolved: (addresses, resolveMs) => {
        record.addresses = addresses;
        record.timings.resolveMs = toMicros(resolveMs);
      },
    };
    setIf(base, "connectTimeoutMs", plan.connectTimeoutMs);
    setIf(base, "family", plan.family);
    conn = await dialStack(
      plan.host,
      plan.port,
      stackOptions(plan.host, plan.port, { route: plan.route, base }),
    );
    const { facts } = conn;
    record.addresses = facts.addresses;
    record.remote = conn.remoteAddress;
    record.local = conn.localAddress;
    record.timings.resolveMs = toMicros(facts.timings.resolveMs);
    record.timings.connectMs = toMicros(facts.timings.connectMs);
    record.timings.proxyMs = toMicros(facts.timings.proxyMs);
    record.timings.tlsMs = toMicros(facts.timings.tlsMs);
    record.proxy = facts.proxy;
    record.tls = facts.tls;
    logger.info(
      `connected to ${conn.remoteAddress} from ${conn.localAddress} in ${
        formatDuration(facts.timings.connectMs ?? 0)
      } (resolved ${facts.addresses.join(", ")})`,
    );
    if (facts.proxy !== null) {
      logger.info(
        `through ${facts.proxy.type} proxy ${facts.proxy.address}: tunnel ready in ${
          formatDuration(facts.timings.proxyMs ?? 0)
        }`,
      );
    }
    if (facts.tls !== null) {
      logger.info(`tls handshake in ${formatDuration(facts.timings.tlsMs ?? 0)}`);
      for (const line of tlsLines(facts.tls)) logger.info(line);
    }
    const result = plan.input.kind === "none" ? zeroIo(conn) : await runSession(
      conn,
      sessionOptions(plan, ctx, {
        input: plan.input.kind === "data"
          ? plan.input.bytes
          : plan.input.kind === "file"
          ? file
          : ctx.stdin,
        signal: deadline.signal,
        address: joinHostPort(plan.host, plan.port),
        chunks,
        halfClose: plan.route.proxy === null,
        inputEndNote: plan.route.proxy === null
          ? "input ended: half-close (shutdown SHUT_WR), reading the reply"
          : "input ended: no half-close through a proxy, reading the reply until the peer " +
            "closes (-q bounds it)",
      }),
    );
    recordSession(record, result, { category: "connect" });
    failure = result.error;
    if (!plan.json) {
      failure ??= await flushOutput(ctx, {
        signal: deadline.signal,
        ioTimeoutMs: plan.ioTimeoutMs,
      });
    }
  } catch (err) {
    if (conn !== undefined) throw err;
    failure = err;
    if (err instanceof TlsError && err.facts !== null) {
      record.tls = err.facts;
      for (const line of tlsLines(err.facts)) logger.info(line);
    }
  }
  record.timings.totalMs = toMicros(performance.now() - started);
  if (failure !== null) record.error = errorRecord(failure);
  if (plan.json) {
    record.data = dataField(chunks, record.bytesReceived);
    ctx.out(JSON.stringify(record));
    // The record too must reach stdout within the run's bounds.
    const cut = conn === undefined
      ? null
      : await flushOutput(ctx, { signal: deadline.signal, ioTimeoutMs: plan.ioTimeoutMs });
    if (failure === null) failure = cut;
  }
  // The kernel's limit is read after the run (it spawns sysctl): never inside a
  // measured phase or between a deadline and its effect.
  if (plan.verbosity > 0 || plan.connectTimeoutMs !== undefined) {
    await explainConnectLimit(plan, ctx.signal);
  }
  if (failure !== null) throw failure;
  return 0;
}

/** At -v: the kernel's own connect limit, and a warning when -w exceeds it. */
async function explainConnectLimit(plan: ConnectPlan, signal: AbortSignal): Promise<void> {
  const logger = log("connect");
  // Loaded only at -v: the kernel's table is not needed on the plain path (start-up).
  const { readConnectLimit } = await abortable(import("../kernel/read.ts"), signal);
  const limit = await readConnectLimit({ signal });
  const kernel = `kernel gives up after ${Math.round(limit.maxConnectMs / 100) / 10} s` +
    `: tcp_syn_retries=${limit.synRetries}, from ${limit.source}`;
  if (plan.connectTimeoutMs === undefined) {
    logger.info(`connect timeout: none (${kernel})`);
    return;
  }
  logger.info(`connect timeout: ${formatDuration(plan.connectTimeoutMs)} (${kernel})`);
  if (plan.connectTimeoutMs > limit.maxConnectMs) {
    logger.warn(
      `--connect-timeout ${
        formatDuration(plan.connectTimeoutMs)
      } exceeds the kernel's limit: ${kernel}`,
    );
  }
}

function zeroIo(conn: Conn): SessionResult {
  conn.close();
  return {
    bytesSent: 0,
    bytesReceived: 0,
    firstByteMs: null,
    durationMs: 0,
    close: "local",
    error: null,
  };
}

/**
 * `tcpc listen [HOST] PORT` (also `tcpc -l [HOST] PORT`): wait for one client
 * and bridge stdin/stdout with it, like `nc -l`, with the session, deadlines
 * and report of `tcpc connect`. `-k` serves clients one after another.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { joinHostPort } from "../net/address.ts";
import { deadlineSignal } from "../net/deadline.ts";
import { acceptConn, listenTcp } from "../net/listener.ts";
import { runSession } from "../net/session.ts";
import { SharedInput } from "../net/shared_input.ts";
import type { TcpConn } from "../net/tcp_conn.ts";
import { formatDuration } from "../report/duration.ts";
import { errorRecord } from "../report/error_record.ts";
import { roundMs } from "../report/numbers.ts";
import type { ByteReader } from "../stream.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  intFlag,
  type ParsedArgs,
  prepareCommand,
  stringFlag,
} from "./args.ts";
import { CONNECT_TABLE } from "./connect.ts";
import type { CommandContext } from "./context.ts";
import { parseEscapes } from "./escape.ts";
import { exitCodesHelp } from "./exit_help.ts";
import { type FlagTable, helpText, parseConfig, reportFlags, withHelp } from "./flags.ts";
import { positionalHint } from "./hints.ts";
import {
  dataField,
  flushOutput,
  openInputFile,
  recordSession,
  sessionOptions,
  type SessionTransfer,
} from "./session_io.ts";
import { parseHost, parsePort } from "./target.ts";

/** The flags listen shares with connect, by name (same meaning, read the same way). */
const SHARED = [
  "timeout",
  "idle-timeout",
  "first-byte-timeout",
  "deadline",
  "quit-after-eof",
  "data",
  "file",
  "crlf",
  "max-bytes",
  "nodelay",
  "keepalive",
  "hex",
];

/**
 * The flags of `tcpc listen`: the one source of its parse config, its
 * `--help` and its README table.
 *
 * @example List them
 * ```ts
 * import { LISTEN_TABLE } from "./listen.ts";
 * console.log(LISTEN_TABLE.map((flag) => flag.name).join(" "));
 * ```
 */
export const LISTEN_TABLE: FlagTable = [
  {
    name: "keep-open",
    short: "k",
    type: "boolean",
    help: "serve clients one after another until a signal, --deadline or -w ends it",
    doc: "after a client, wait for the next one (one at a time), until SIGINT/SIGTERM, " +
      "`--deadline` or `-w`. stdin is read once: each byte goes to the client connected when " +
      "it is read; after stdin EOF later clients get an immediate half-close. `-d` and `-f` " +
      "are sent to every client. A client's failure is logged and the next client served",
    section: "connection",
  },
  {
    name: "connect-timeout",
    short: "w",
    type: "string",
    value: "DUR",
    help: "give up when no client connects within DUR (with -k: each wait for the next)",
    doc: "give up (exit 4, timer `connect`) when no client connects within DUR; with `-k` " +
      "this bounds each wait for the next client. Default: wait until a signal or `--deadline`",
    section: "deadlines",
  },
  ...withHelp(CONNECT_TABLE.filter((flag) => SHARED.includes(flag.name)), {
    timeout: {
      help: "once a client is in, no read or write may wait longer than DUR",
      doc: "once a client is in, no read or write may wait longer than DUR: a write blocked " +
        "by a client that does not read, a write to stdout nobody reads, or a read waiting " +
        "while nothing else moves",
    },
    "quit-after-eof": {
      help: "after stdin EOF, read the client's data for at most DUR (default: until it closes)",
      doc: "after stdin EOF (and the half-close) read the client's data for at most DUR, then " +
        "close (exit 0). Default: read until the client closes, bounded by the deadlines above",
    },
    "first-byte-timeout": {
      help: "the client's first byte must come within DUR of its connect",
    },
    deadline: {
      help: "the whole run, listen to close, takes at most DUR",
      doc: "the whole run (waiting for clients and every session) takes at most DUR",
    },
    data: { doc: "send TEXT to the client instead of stdin (to every client with `-k`)" },
  }),
  ...reportFlags({
    json: "one JSON object per client on stdout instead of the data",
    verbose: "-v info, -vv debug (on stderr)",
    verboseDoc: "`-v` info (the listening address, each client, its close), `-vv` debug " +
      "(`sent:`/`recv:` chunks with an escaped preview, the half-close)",
  }),
];

/**
 * Usage text of `tcpc listen`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { listenHelp } from "./listen.ts";
 * console.log(listenHelp().split("\n")[0]);
 * ```
 */
export function listenHelp(): string {
  return helpText({
    usage: "Usage: tcpc listen [HOST] PORT [options]\n       tcpc -l [HOST] PORT [options]",
    summary: `Wait for one client on HOST:PORT, send it stdin and write what it sends to stdout
(like nc -l). HOST defaults to 127.0.0.1; all interfaces (0.0.0.0 or ::) must be given
and are announced on stderr. PORT 0 picks a free port, printed on stderr.`,
    table: LISTEN_TABLE,
    footer: exitCodesHelp(),
  });
}

const LISTEN_FLAGS = parseConfig(LISTEN_TABLE);

/** Everything `tcpc listen` was asked to do, validated. */
export interface ListenPlan {
  /** Address to listen on (brackets removed). */
  host: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Serve clients one after another. */
  keepOpen: boolean;
  /** What to send each client. */
  input: { kind: "stdin" } | { kind: "data"; bytes: Uint8Array } | { kind: "file"; path: string };
  /** Wait for a client at most this long, ms. */
  acceptTimeoutMs?: number;
  /** Per-operation timeout, ms. */
  ioTimeoutMs?: number;
  /** Idle timeout, ms. */
  idleTimeoutMs?: number;
  /** First-byte timeout, ms. */
  firstByteTimeoutMs?: number;
  /** Whole-run deadline, ms. */
  deadlineMs?: number;
  /** Read time after input EOF, ms. */
  quitAfterEofMs?: number;
  /** Stop a session after this many received bytes. */
  maxBytes?: number;
  /** Send LF as CRLF. */
  crlf: boolean;
  /** TCP_NODELAY on each client. */
  noDelay: boolean;
  /** SO_KEEPALIVE on each client. */
  keepAlive: boolean;
  /** JSON output. */
  json: boolean;
  /** Hex dump on stderr. */
  hex: boolean;
  /** 0, 1 (-v) or 2 (-vv). */
  verbosity: number;
}

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined) {
  if (value !== undefined) target[key] = value;
}

/** `[HOST] PORT`: HOST defaults to loopback, never to all interfaces. */
function parseListenAddress(positionals: string[]): { host: string; port: number } {
  const hint = positionalHint(positionals, { invocation: "tcpc listen" });
  if (hint !== undefined) throw new UsageError(`listen: ${hint}`);
  if (positionals.length === 0) {
    throw new UsageError("listen: missing PORT (see tcpc listen --help)");
  }
  if (positionals.length > 2) {
    throw new UsageError(`listen: unexpected argument "${positionals[2]}"`);
  }
  // One or two positionals (checked above): the indexes exist.
  const host = positionals.length === 2 ? parseHost(positionals[0]!) : "127.0.0.1";
  const portText = positionals.at(-1)!;
  return { host, port: portText === "0" ? 0 : parsePort(portText) };
}

function planFromArgs(args: ParsedArgs): ListenPlan {
  const { host, port } = parseListenAddress(args.positionals);
  const data = stringFlag(args, "data");
  const file = stringFlag(args, "file");
  if (data !== undefined && file !== undefined) {
    throw new UsageError("conflicting flags --data and --file: give only one");
  }
  if (file === "") throw new UsageError(`invalid --file "": empty path`);
  const plan: ListenPlan = {
    host,
    port,
    keepOpen: boolFlag(args, "keep-open"),
    input: data !== undefined
      ? { kind: "data", bytes: parseEscapes(data, "--data") }
      : file !== undefined
      ? { kind: "file", path: file }
      : { kind: "stdin" },
    crlf: boolFlag(args, "crlf"),
    noDelay: boolFlag(args, "nodelay"),
    keepAlive: boolFlag(args, "keepalive"),
    json: boolFlag(args, "json"),
    hex: boolFlag(args, "hex"),
    verbosity: countFlag(args, "verbose"),
  };
  setIf(plan, "acceptTimeoutMs", durationFlag(args, "connect-timeout"));
  setIf(plan, "ioTimeoutMs", durationFlag(args, "timeout"));
  setIf(plan, "idleTimeoutMs", durationFlag(args, "idle-timeout"));
  setIf(plan, "firstByteTimeoutMs", durationFlag(args, "first-byte-timeout"));
  setIf(plan, "deadlineMs", durationFlag(args, "deadline"));
  setIf(plan, "quitAfterEofMs", durationFlag(args, "quit-after-eof"));
  setIf(plan, "maxBytes", intFlag(args, "max-bytes", { min: 1 }));
  if (plan.json && plan.maxBytes === undefined) plan.maxBytes = 1024 * 1024;
  return plan;
}

/** The JSON record of one client of `tcpc listen` (schema in README). */
export interface ListenRecord extends SessionTransfer {
  /** The address listened on, `ip:port`. */
  listen: string;
  /** The client's `ip:port`, or null when none came. */
  remote: string | null;
  /** Our end of the client's connection, or null. */
  local: string | null;
  /** Times in ms; null when the phase did not happen. */
  timings: { acceptMs: number | null; firstByteMs: number | null; totalMs: number };
}

/**
 * Runs `tcpc listen`: validates, listens, serves one client (or, with `-k`,
 * one after another), reports. Returns 0 or throws the error that ended the
 * run (after printing the JSON record when `--json` was asked for).
 *
 * @example Receive one file on port 9000
 * ```ts
 * import { runListen } from "./listen.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * await runListen(["9000", "-w", "30s"], ctx);
 * ```
 */
export async function runListen(argv: string[], ctx: CommandContext): Promise<number> {
  const plan = await prepareCommand(argv, ctx, {
    command: "tcpc listen",
    options: LISTEN_FLAGS,
    help: listenHelp,
    plan: planFromArgs,
  });
  if (plan === null) return 0;
  // A bad --file is bad input: found before the port is bound.
  let file = plan.input.kind === "file" ? await openInputFile(plan.input.path, {}) : null;
  try {
    return await listen(plan, ctx, async () => {
      if (plan.input.kind !== "file") return null;
      const next = file ?? await openInputFile(plan.input.path, {});
      file = null;
      return next;
    });
  } finally {
    file?.close();
  }
}

function emptyRecord(listen: string): ListenRecord {
  return {
    listen,
    remote: null,
    local: null,
    timings: { acceptMs: null, firstByteMs: null, totalMs: 0 },
    bytesSent: 0,
    bytesReceived: 0,
    data: { text: "" },
    close: null,
    error: null,
  };
}

function isAllInterfaces(host: string): boolean {
  return host === "0.0.0.0" || /^[0:]+$/.test(host);
}

async function listen(
  plan: ListenPlan,
  ctx: CommandContext,
  nextFile: () => Promise<Deno.FsFile | null>,
): Promise<number> {
  const logger = log("listen");
  using deadline = deadlineSignal(ctx.signal, plan.deadlineMs);
  let listener: Deno.TcpListener;
  try {
    listener = listenTcp(plan.host, plan.port);
  } catch (err) {
    if (plan.json) {
      const record = emptyRecord(joinHostPort(plan.host, plan.port));
      record.error = errorRecord(err);
      ctx.out(JSON.stringify(record));
    }
    throw err;
  }
  const bound = joinHostPort(listener.addr.hostname, listener.addr.port);
  if (isAllInterfaces(plan.host)) {
    logger.warn(
      `listening on all interfaces ("${bound}"): any host that can reach this machine may connect`,
    );
  } else if (plan.port === 0) logger.warn(`listening on ${bound}`);
  else logger.info(`listening on ${bound}`);
  const stdin = plan.keepOpen && plan.input.kind === "stdin" ? new SharedInput(ctx.stdin) : null;
  let served = 0;
  try {
    while (true) {
      const started = performance.now();
      const record = emptyRecord(bound);
      let conn: TcpConn;
      try {
        const options: Parameters<typeof acceptConn>[1] = {
          signal: deadline.signal,
          onAcceptError: (err) => logger.info(`accept failed, going on: ${err.message}`),
        };
        setIf(options, "timeoutMs", plan.acceptTimeoutMs);
        conn = await acceptConn(listener, options);
      } catch (err) {
        // With -k, a signal between clients is the normal way to stop.
        if (plan.keepOpen && ctx.signal.aborted && err === ctx.signal.reason) {
          logger.info(`stopped after ${served} clients: ${(err as Error).message}`);
          return 0;
        }
        record.timings.totalMs = roundMs(performance.now() - started);
        record.error = errorRecord(err);
        if (plan.json) ctx.out(JSON.stringify(record));
        throw err;
      }
      served++;
      if (!plan.keepOpen) listener.close();
      const failure = await serveClient(conn, {
        plan,
        ctx,
        record,
        started,
        signal: deadline.signal,
        input: plan.input.kind === "data"
          ? plan.input.bytes
          : plan.input.kind === "file"
          ? await nextFile()
          : stdin ?? ctx.stdin,
      });
      if (failure === null) {
        if (!plan.keepOpen) return 0;
        continue;
      }
      // The run's own end (--deadline, a signal) or a single client's failure ends it.
      if (!plan.keepOpen || deadline.signal.aborted) throw failure;
      logger.warn(`client ${record.remote}: ${(failure as Error).message ?? String(failure)}`);
    }
  } finally {
    try {
      listener.close();
    } catch { /* closed after the first client */ }
  }
}

/** What {@linkcode serveClient} needs. */
interface ServeClientOptions {
  plan: ListenPlan;
  ctx: CommandContext;
  record: ListenRecord;
  started: number;
  signal: AbortSignal;
  /** Fixed bytes, an opened --file (closed here), stdin, or stdin shared by -k clients. */
  input: SharedInput | ByteReader | Uint8Array | null;
}

/** One client's session and report; returns the error that ended it, or null. */
async function serveClient(conn: TcpConn, options: ServeClientOptions): Promise<unknown> {
  const { plan, ctx, record, started } = options;
  const logger = log("listen");
  const accepted = performance.now();
  if (plan.noDelay) conn.raw.setNoDelay(true);
  if (plan.keepAlive) conn.raw.setKeepAlive(true);
  record.remote = conn.remoteAddress;
  record.local = conn.localAddress;
  record.timings.acceptMs = roundMs(accepted - started);
  logger.info(
    `accepted ${conn.remoteAddress} on ${conn.localAddress} after ${
      formatDuration(accepted - started)
    }`,
  );
  const lease = options.input instanceof SharedInput ? options.input.lease() : null;
  const file = options.input instanceof Deno.FsFile ? options.input : null;
  const chunks: Uint8Array[] = [];
  let failure: unknown = null;
  try {
    const input = options.input instanceof SharedInput ? lease : options.input;
    const result = await runSession(
      conn,
      sessionOptions(plan, ctx, {
        input,
        signal: options.signal,
        chunks,
        address: record.remote,
        inputEndNote: "input ended: half-close (shutdown SHUT_WR), reading the client's data",
      }),
    );
    recordSession(record, result, { category: "listen" });
    failure = result.error;
    if (!plan.json) {
      failure ??= await flushOutput(ctx, { signal: options.signal, ioTimeoutMs: plan.ioTimeoutMs });
    }
  } finally {
    lease?.release();
    file?.close();
  }
  record.timings.totalMs = roundMs(performance.now() - started);
  if (failure !== null) record.error = errorRecord(failure);
  if (plan.json) {
    record.data = dataField(chunks, record.bytesReceived);
    ctx.out(JSON.stringify(record));
  }
  return failure;
}

/**
 * `tcpc probe TARGET...`: many connects at once on the readiness loop
 * (lib/net/mux.ts), one record per target, optional send/expect health check
 * like Nagios `check_tcp`.
 *
 * @module
 */

import { errorKind, UsageError, VerifyError } from "../errors.ts";
import { log } from "../log.ts";
import { joinHostPort, resolve } from "../net/dial.ts";
import { readFdLimit } from "../net/fd_limit.ts";
import { type CloseResult, MAX_CONNECTS_IN_FLIGHT, Mux, type MuxConn } from "../net/mux.ts";
import { errorRecord } from "../report/error_record.ts";
import {
  failedConnectState,
  formatProbeHeader,
  formatProbeRow,
  formatProbeSummary,
  type ProbeRecord,
  type ProbeState,
} from "../report/probe_table.ts";
import { escapeBytes } from "../report/safe_text.ts";
import type { CommandContext } from "./context.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  intFlag,
  parseCommandLine,
  stringFlag,
  stringsFlag,
} from "./args.ts";
import { formatDuration } from "./duration.ts";
import { parseEscapes } from "./escape.ts";
import { parseTarget } from "./target.ts";

/** Usage text of `tcpc probe`. */
export const PROBE_HELP = `Usage: tcpc probe TARGET... [options]

Connect to many ports at once and report each: open, closed, timeout,
unreachable, dns-error or mismatch.

TARGET: host:port, host:lo-hi, host:p1,p2,... (items may be ranges), [v6addr]:port
  -f, --file FILE            read targets from FILE, one per line (# comments)
  -c, --concurrency N        targets in progress at once (default 256; at most
                             128 connects are in flight at a time)
  -w, --connect-timeout DUR  time for each connect (default 2s); with --send or
                             --expect the reply gets DUR again after connect
      --send TEXT            send TEXT once connected (escapes \\r \\n \\t \\0 \\xHH)
      --expect TEXT          the reply must contain TEXT (escapes as above)
      --expect-re REGEX      the reply (as UTF-8) must match REGEX
      --json                 JSON Lines: one record per target, in target order
  -v, --verbose              -v info, -vv debug (on stderr)
  -h, --help                 this help

Exit: 0 every target open (and matched); 6 only expectations failed;
1 otherwise; 2 usage error.`;

/** The flags of `tcpc probe`, for node:util parseArgs. */
export const PROBE_FLAGS = {
  file: { type: "string", short: "f", multiple: true },
  concurrency: { type: "string", short: "c" },
  "connect-timeout": { type: "string", short: "w" },
  send: { type: "string" },
  expect: { type: "string" },
  "expect-re": { type: "string" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v", multiple: true },
  help: { type: "boolean", short: "h" },
} as const;

/** Everything `tcpc probe` was asked to do, validated. */
export interface ProbePlan {
  /** Targets in order: host (validated, no brackets) and port. */
  targets: { host: string; port: number }[];
  /** Targets in progress at once. */
  concurrency: number;
  /** Connect timeout (and reply timeout), ms. */
  timeoutMs: number;
  /** Bytes to send once connected, or null. */
  send: Uint8Array | null;
  /** What the reply must contain or match, or null. */
  expect: { bytes: Uint8Array; text: string } | { re: RegExp; text: string } | null;
  /** JSON Lines output. */
  json: boolean;
  /** 0, 1 (-v) or 2 (-vv). */
  verbosity: number;
}

/** Most bytes of a reply kept for matching. */
const MAX_REPLY_BYTES = 65536;
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
    throw new UsageError(`cannot read --file "${path}": ${why}`);
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
  const args = parseCommandLine(argv, { options: PROBE_FLAGS, command: "tcpc probe" });
  const texts = [...args.positionals];
  for (const path of stringsFlag(args, "file")) texts.push(...await readTargetFile(path));
  if (texts.length === 0) {
    throw new UsageError("probe: missing TARGET (see tcpc probe --help)");
  }
  const targets: ProbePlan["targets"] = [];
  for (const text of texts) {
    const spec = parseTarget(text);
    if (targets.length + spec.ports.length > MAX_TARGETS) {
      throw new UsageError(`too many targets: at most ${MAX_TARGETS} per run`);
    }
    for (const port of spec.ports) targets.push({ host: spec.host, port });
  }
  const expectText = stringFlag(args, "expect");
  const expectRe = stringFlag(args, "expect-re");
  if (expectText !== undefined && expectRe !== undefined) {
    throw new UsageError("conflicting flags --expect and --expect-re: give only one");
  }
  let expect: ProbePlan["expect"] = null;
  if (expectText !== undefined) {
    if (expectText === "") throw new UsageError(`invalid --expect "": empty`);
    expect = { bytes: parseEscapes(expectText, "--expect"), text: expectText };
  }
  if (expectRe !== undefined) {
    try {
      expect = { re: new RegExp(expectRe), text: expectRe };
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new UsageError(`invalid --expect-re "${expectRe}": ${why}`);
    }
  }
  const send = stringFlag(args, "send");
  if (send === "") throw new UsageError(`invalid --send "": empty`);
  const timeoutMs = durationFlag(args, "connect-timeout") ?? 2000;
  if (timeoutMs <= 0) throw new UsageError(`invalid --connect-timeout: must be above 0`);
  return {
    targets,
    concurrency: intFlag(args, "concurrency", { min: 1, max: 100_000 }) ?? 256,
    timeoutMs,
    send: send === undefined ? null : parseEscapes(send, "--send"),
    expect,
    json: boolFlag(args, "json"),
    verbosity: countFlag(args, "verbose"),
  };
}

/** Per-target state on the loop. */
interface ProbeTarget {
  index: number;
  host: string;
  port: number;
  address: string;
  resolveMs: number;
  reply: Uint8Array | null;
  replyLength: number;
  matched: boolean;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  outer: for (
    let i = haystack.indexOf(first ?? 0);
    i >= 0 && i <= last;
    i = haystack.indexOf(first ?? 0, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const decoder = new TextDecoder();

/** Milliseconds to the microsecond, for records. */
function round<T extends number | null>(ms: T): T {
  return (ms === null ? null : Math.round(ms * 1000) / 1000) as T;
}

function matches(plan: ProbePlan, reply: Uint8Array): boolean {
  const expect = plan.expect;
  if (expect === null) return true;
  if ("bytes" in expect) return indexOfBytes(reply, expect.bytes) >= 0;
  return expect.re.test(decoder.decode(reply));
}

/** Resolves each distinct host once (IP literals cost nothing), a few at a time. */
async function resolveHosts(
  plan: ProbePlan,
  signal: AbortSignal,
): Promise<Map<string, { address: string | null; ms: number; error: unknown }>> {
  const hosts = [...new Set(plan.targets.map((t) => t.host))];
  const found = new Map<string, { address: string | null; ms: number; error: unknown }>();
  let next = 0;
  const worker = async () => {
    while (next < hosts.length) {
      const host = hosts[next++]!;
      const started = performance.now();
      try {
        const [address] = await resolve(host, { connectTimeoutMs: plan.timeoutMs, signal });
        found.set(host, { address: address ?? null, ms: performance.now() - started, error: null });
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
 * const code = await runProbe(["127.0.0.1:6379", "--send", "PING\\r\\n", "--expect", "+PONG"], ctx);
 * ```
 */
export async function runProbe(argv: string[], ctx: CommandContext): Promise<number> {
  const args = parseCommandLine(argv, { options: PROBE_FLAGS, command: "tcpc probe" });
  if (boolFlag(args, "help")) {
    ctx.out(PROBE_HELP);
    return 0;
  }
  const plan = await planProbe(argv);
  await ctx.setVerbosity(plan.verbosity);
  return await probe(plan, ctx);
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
  logger.info(
    `${total} targets, ${maxOpen} at once (${
      Math.min(maxOpen, MAX_CONNECTS_IN_FLIGHT)
    } connects in flight), timeout ${formatDuration(plan.timeoutMs)}, fd limit ${
      limit === undefined ? "unknown (learned from EMFILE)" : `${limit.soft} (${limit.source})`
    }`,
  );
  const resolved = await resolveHosts(plan, ctx.signal);

  // Records come out in target order: a finished record waits for the ones before it.
  const targetWidth = Math.min(
    48,
    Math.max(6, ...plan.targets.slice(0, 10_000).map((t) => joinHostPort(t.host, t.port).length)),
  );
  const pending = new Map<number, ProbeRecord>();
  const counts: Partial<Record<ProbeState, number>> = {};
  let nextEmit = 0;
  let done = 0;
  let stopProgress = () => {};
  if (!plan.json) ctx.out(formatProbeHeader(targetWidth));
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
  let denied: unknown = null;
  const finish = (index: number, record: ProbeRecord) => {
    done++;
    counts[record.state] = (counts[record.state] ?? 0) + 1;
    pending.set(index, record);
    for (let r = pending.get(nextEmit); r !== undefined; r = pending.get(nextEmit)) {
      pending.delete(nextEmit++);
      batch.push(plan.json ? JSON.stringify(r) : formatProbeRow(r, targetWidth));
    }
    if (done === total) {
      stopProgress();
      flush();
    } else if (batch.length >= 512) flush();
    else if (batch.length > 0 && stopFlushTimer === null) {
      stopFlushTimer = mux.after(100, () => {
        stopFlushTimer = null;
        flush();
      });
    }
  };

  const wantsReply = plan.expect !== null;
  const checks = plan.send !== null || wantsReply;
  const expectLabel = plan.expect === null
    ? ""
    : "bytes" in plan.expect
    ? `"${plan.expect.text}"`
    : `/${plan.expect.text}/`;

  const onClose = (conn: MuxConn<ProbeTarget>, result: CloseResult) => {
    const t = conn.state;
    const error = result.error;
    let state: ProbeState;
    let failure: unknown = null;
    if (result.reason === "aborted") return;
    if (!result.connected) {
      failure = error;
      state = failedConnectState(errorRecord(error).kind);
      if (errorKind(error) === "denied") denied ??= error;
    } else if (checks && !t.matched) {
      state = "mismatch";
      // Raw text: errorRecord escapes the whole message once.
      const got = t.replyLength === 0
        ? "nothing"
        : `"${decoder.decode(t.reply!.subarray(0, Math.min(64, t.replyLength)))}${
          t.replyLength > 64 ? "..." : ""
        }"`;
      const why = result.reason === "timeout"
        ? ` within ${formatDuration(plan.timeoutMs)}`
        : result.reason === "eof"
        ? " before the peer closed"
        : error instanceof Error
        ? ` (${error.message})`
        : "";
      failure = new VerifyError(
        wantsReply
          ? `expect "${t.address}": expected ${expectLabel}, got ${got}${why}`
          : `send "${t.address}": not sent${why}`,
      );
    } else state = "open";
    finish(t.index, {
      target: joinHostPort(t.host, t.port),
      host: t.host,
      port: t.port,
      address: t.address,
      state,
      timings: {
        resolveMs: round(t.resolveMs),
        connectMs: round(result.connectMs),
        firstByteMs: round(result.firstByteMs),
        totalMs: round(result.totalMs),
      },
      bytesSent: result.bytesOut,
      bytesReceived: result.bytesIn,
      reply: t.replyLength === 0
        ? null
        : escapeBytes(t.reply!.subarray(0, t.replyLength), { maxBytes: 256 }),
      error: failure === null ? null : errorRecord(failure),
    });
    feed();
  };

  let fdWarned = false;
  const mux = new Mux<ProbeTarget>({
    signal: ctx.signal,
    maxConnecting: maxOpen,
    maxOpen,
    readBufferSize: 4096,
    onFdLimit: (cap) => {
      if (fdWarned) return;
      fdWarned = true;
      logger.warn(
        `out of file descriptors (EMFILE) with ${cap} sockets in use: continuing with at most ${cap} at once (raise ulimit -n or lower -c)`,
      );
    },
    handler: {
      onOpen(conn) {
        if (!checks) return conn.close();
        conn.setDeadline("total", plan.timeoutMs);
        if (plan.send !== null) conn.write(plan.send);
      },
      onWritten(conn) {
        if (wantsReply) return;
        conn.state.matched = true;
        conn.close();
      },
      onData(conn, chunk) {
        const t = conn.state;
        t.reply ??= new Uint8Array(MAX_REPLY_BYTES);
        const n = Math.min(chunk.length, MAX_REPLY_BYTES - t.replyLength);
        t.reply.set(chunk.subarray(0, n), t.replyLength);
        t.replyLength += n;
        if (matches(plan, t.reply.subarray(0, t.replyLength))) {
          t.matched = true;
          conn.close();
        } else if (t.replyLength >= MAX_REPLY_BYTES) {
          conn.close(new VerifyError(`no match in the first ${MAX_REPLY_BYTES} bytes`));
        }
      },
      onClose,
    },
  });

  // Targets are dialed lazily so memory stays bounded by the concurrency.
  let nextTarget = 0;
  const window = Math.max(maxOpen * 2, 256);
  function feed(): void {
    while (nextTarget < total && nextTarget - done < window) {
      const index = nextTarget++;
      const { host, port } = plan.targets[index]!;
      const found = resolved.get(host)!;
      if (found.address === null) {
        finish(index, {
          target: joinHostPort(host, port),
          host,
          port,
          address: null,
          state: "dns-error",
          timings: {
            resolveMs: round(found.ms),
            connectMs: null,
            firstByteMs: null,
            totalMs: round(found.ms),
          },
          bytesSent: 0,
          bytesReceived: 0,
          reply: null,
          error: errorRecord(found.error),
        });
        continue;
      }
      mux.dial({
        hostname: found.address,
        port,
        state: {
          index,
          host,
          port,
          address: joinHostPort(found.address, port),
          resolveMs: found.ms,
          reply: null,
          replyLength: 0,
          matched: false,
        },
        read: wantsReply,
        connectTimeoutMs: plan.timeoutMs,
      });
    }
  }

  feed();
  // A progress line now and then, only for people watching a long run.
  if (ctx.stderrIsTerminal && done < total) {
    const tick = () => {
      const elapsed = formatDuration(performance.now() - started);
      ctx.err(`probe: ${done}/${total} done, ${counts.open ?? 0} open, ${elapsed}`);
      stopProgress = mux.after(2000, tick);
    };
    stopProgress = mux.after(2000, tick);
  }
  try {
    await mux.run();
  } finally {
    flush();
  }
  const elapsedMs = performance.now() - started;
  if (!plan.json) ctx.out(formatProbeSummary(counts, elapsedMs));
  logger.info(
    `${done} targets in ${formatDuration(elapsedMs)} (${
      Math.round(done / (elapsedMs / 1000))
    }/s), ${mux.stats.events} events`,
  );
  const open = counts.open ?? 0;
  if (open === total) return 0;
  // The sandbox refusing a target is a set-up problem, not a state of the port.
  if (denied !== null) throw denied;
  if (open + (counts.mismatch ?? 0) === total) return 6;
  return 1;
}

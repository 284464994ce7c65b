/**
 * What `tcpc HOST PORT` and `tcpc listen` share around the session pump: the
 * input file, the session's options from the plan (output, `-x`, `-vv`, the
 * deadlines), the final drain of stdout within the run's bounds, and the JSON
 * record's `data` field.
 *
 * @module
 */

import { NetError, UsageError } from "../errors.ts";
import { log } from "../log.ts";
import { abortable } from "../net/abortable.ts";
import type { CloseReason, SessionOptions, SessionResult } from "../net/session.ts";
import { formatDuration } from "../report/duration.ts";
import type { ErrorRecord } from "../report/error_record.ts";
import { roundMs } from "../report/numbers.ts";
import { hexDump } from "../report/hexdump.ts";
import { escapeBytes } from "../report/safe_text.ts";
import type { ByteReader } from "../stream.ts";
import type { CommandContext } from "./context.ts";

/** The fields connect's and listen's JSON records share: what the session moved and how it ended. */
export interface SessionTransfer {
  /** Times in ms; `firstByteMs` is null when nothing came. */
  timings: { firstByteMs: number | null };
  /** Bytes written to the peer. */
  bytesSent: number;
  /** Bytes read from the peer. */
  bytesReceived: number;
  /** What was received: `{text}` when valid UTF-8, else `{base64}`. */
  data: { text: string } | { base64: string };
  /** How the connection ended, or null if there was none. */
  close: CloseReason | null;
  /** What went wrong, or null. */
  error: ErrorRecord | null;
}

/**
 * Copies what a finished session moved into its JSON record, and logs the
 * closing line at `-v` under `category`.
 *
 * @example
 * ```ts
 * import { recordSession, type SessionTransfer } from "./session_io.ts";
 * import type { SessionResult } from "../net/session.ts";
 * declare const record: SessionTransfer;
 * declare const result: SessionResult;
 * recordSession(record, result, { category: "connect" });
 * ```
 */
export function recordSession(
  record: SessionTransfer,
  result: SessionResult,
  options: { category: string },
): void {
  record.bytesSent = result.bytesSent;
  record.bytesReceived = result.bytesReceived;
  record.timings.firstByteMs = roundMs(result.firstByteMs);
  record.close = result.close;
  log(options.category).info(
    `closed (${result.close}): sent ${result.bytesSent} bytes, received ${result.bytesReceived} bytes in ${
      formatDuration(result.durationMs)
    }`,
  );
}

/** The plan fields a session needs (ConnectPlan and ListenPlan have them). */
export interface SessionPlan {
  /** `--json`: collect the data for the record instead of writing stdout. */
  json: boolean;
  /** `-x`: hex dump of the traffic on stderr. */
  hex: boolean;
  /** `-v` count. */
  verbosity: number;
  /** `-C`: send LF as CRLF. */
  crlf: boolean;
  /** `-t`, ms. @default {undefined} */
  ioTimeoutMs?: number;
  /** `-i`, ms. @default {undefined} */
  idleTimeoutMs?: number;
  /** `--first-byte-timeout`, ms. @default {undefined} */
  firstByteTimeoutMs?: number;
  /** `-q`, ms. @default {undefined} */
  quitAfterEofMs?: number;
  /** `--max-bytes`. @default {undefined} */
  maxBytes?: number;
}

/** Options of {@linkcode sessionOptions}. */
export interface SessionOptionsOptions {
  /** What to send. */
  input: ByteReader | Uint8Array | null;
  /** The run's signal (deadline, signals). */
  signal: AbortSignal;
  /** The peer, for messages. */
  address: string;
  /** With `--json`: where received chunks are collected. */
  chunks: Uint8Array[];
  /** Half-close when input ends. @default {true} */
  halfClose?: boolean;
  /** The `-vv` line when input ends. @default {"input ended: half-close (shutdown SHUT_WR), reading the reply"} */
  inputEndNote?: string;
}

/**
 * The session pump's options for a plan: output to stdout (or collected for
 * `--json`), `-x` and `-vv` hooks, and the deadlines.
 *
 * @example
 * ```ts
 * import { sessionOptions } from "./session_io.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const options = sessionOptions({ json: false, hex: false, verbosity: 0, crlf: false }, ctx, {
 *   input: new TextEncoder().encode("hi\n"),
 *   signal: ctx.signal,
 *   address: "127.0.0.1:7",
 *   chunks: [],
 * });
 * console.log(typeof options.output);
 * ```
 */
export function sessionOptions(
  plan: SessionPlan,
  ctx: CommandContext,
  parts: SessionOptionsOptions,
): SessionOptions {
  const logger = log("session");
  const debug = plan.verbosity >= 2;
  let sentOffset = 0;
  let receivedOffset = 0;
  const output = plan.json
    ? (chunk: Uint8Array) => void parts.chunks.push(chunk.slice())
    : async (chunk: Uint8Array) => {
      let offset = 0;
      while (offset < chunk.length) offset += await ctx.stdout.write(chunk.subarray(offset));
    };
  const note = parts.inputEndNote ??
    "input ended: half-close (shutdown SHUT_WR), reading the reply";
  const options: SessionOptions = {
    input: parts.input,
    output,
    crlf: plan.crlf,
    signal: parts.signal,
    address: parts.address,
    halfClose: parts.halfClose ?? true,
    onSent: (chunk) => {
      // Only build the preview when -vv asked for it: this runs for every chunk.
      if (debug) {
        logger.debug(`sent: ${chunk.length} bytes "${escapeBytes(chunk, { maxBytes: 64 })}"`);
      }
      // One write per chunk, not per line: a 10 MB dump is 625k lines.
      if (plan.hex) ctx.err(hexDump(chunk, { offset: sentOffset, prefix: "> " }).join("\n"));
      sentOffset += chunk.length;
    },
    onReceived: (chunk) => {
      if (debug) {
        logger.debug(`recv: ${chunk.length} bytes "${escapeBytes(chunk, { maxBytes: 64 })}"`);
      }
      if (plan.hex) ctx.err(hexDump(chunk, { offset: receivedOffset, prefix: "< " }).join("\n"));
      receivedOffset += chunk.length;
    },
    onHalfClose: () => logger.debug(note),
  };
  if (plan.ioTimeoutMs !== undefined) options.ioTimeoutMs = plan.ioTimeoutMs;
  if (plan.idleTimeoutMs !== undefined) options.idleTimeoutMs = plan.idleTimeoutMs;
  if (plan.firstByteTimeoutMs !== undefined) options.firstByteTimeoutMs = plan.firstByteTimeoutMs;
  if (plan.quitAfterEofMs !== undefined) options.quitAfterEofMs = plan.quitAfterEofMs;
  if (plan.maxBytes !== undefined) options.maxBytes = plan.maxBytes;
  return options;
}

/**
 * Opens `--file PATH` for reading. A FIFO's open waits for a writer: `signal`
 * still ends the wait. A path that cannot be read is bad input (exit 2).
 *
 * @example
 * ```ts
 * import { openInputFile } from "./session_io.ts";
 * const file = await openInputFile("/etc/hostname", {});
 * file.close();
 * ```
 */
export async function openInputFile(
  path: string,
  options: { signal?: AbortSignal },
): Promise<Deno.FsFile> {
  let file: Deno.FsFile | undefined;
  const signal = options.signal;
  try {
    const opening = Deno.open(path, { read: true });
    file = signal === undefined
      ? await opening
      : await abortable(opening, signal, (late) => late.close());
    // open(2) succeeds on a directory; reading it fails only after connecting.
    if ((await file.stat()).isDirectory) throw new Error("is a directory");
    return file;
  } catch (err) {
    file?.close();
    if (signal?.aborted) throw signal.reason;
    // Deno.open and the directory check throw Errors; the OS reason comes
    // before the first colon ("No such file or directory (os error 2): ...").
    const why = err instanceof Deno.errors.NotCapable
      ? "denied by the permission sandbox (needs --allow-read)"
      : (err as Error).message.split(":")[0]!;
    throw new UsageError(`cannot read --file "${path}": ${why}`);
  }
}

/**
 * Waits until what was received (and the result lines) reached stdout,
 * within the run's bounds: `signal` (deadline, signals) and `-t` for the wait
 * itself. Returns the error when output was cut, else null.
 *
 * @example
 * ```ts
 * import { flushOutput } from "./session_io.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const cut = await flushOutput(ctx, { signal: ctx.signal, ioTimeoutMs: 1000 });
 * if (cut !== null) throw cut;
 * ```
 */
export async function flushOutput(
  ctx: CommandContext,
  options: { signal: AbortSignal; ioTimeoutMs?: number | undefined },
): Promise<unknown> {
  const { signal, ioTimeoutMs } = options;
  const io = ioTimeoutMs === undefined ? undefined : AbortSignal.timeout(ioTimeoutMs);
  await ctx.stdout.flush(io === undefined ? signal : AbortSignal.any([signal, io]));
  const pending = ctx.stdout.pending();
  if (pending === 0) return null;
  if (signal.aborted && !(signal.reason instanceof NetError)) return signal.reason;
  const why = signal.aborted
    ? (signal.reason as NetError).message
    : `io timeout: a write to the output waited for ${
      formatDuration(ioTimeoutMs ?? 0)
    } (--timeout)`;
  return new NetError("timeout", `${why}; output cut: ${pending} bytes not written`, {
    op: "output",
    timer: signal.aborted ? "deadline" : "io",
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The JSON record's `data` field: `{text}` when the bytes are valid UTF-8,
 * else `{base64}`.
 *
 * @example
 * ```ts
 * import { dataField } from "./session_io.ts";
 * console.log(dataField([new Uint8Array([0xff])], 1)); // { base64: "/w==" }
 * ```
 */
export function dataField(
  chunks: Uint8Array[],
  total: number,
): { text: string } | { base64: string } {
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    return { text: utf8.decode(all) };
  } catch {
    return { base64: all.toBase64() };
  }
}

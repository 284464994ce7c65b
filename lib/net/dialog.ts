/**
 * Ordered send/expect dialogs on any {@linkcode Conn}: the query/response list
 * of blackbox_exporter's TCP prober, without its newline appended to every
 * send, and with a failure that names the step and quotes what came back.
 *
 * Semantics, step by step:
 * - `send` / `send-hex` writes exactly its bytes (nothing is appended).
 * - `expect` / `expect-hex` reads until the bytes received in this step
 *   contain the expected bytes.
 * - `expect-re` reads until the regex matches the step's bytes decoded as
 *   latin1: every byte is one character, so `\xHH` in the regex matches byte
 *   HH, binary replies cannot break decoding, and a match maps back to exact
 *   byte offsets. ASCII protocols read the same either way; a non-ASCII
 *   pattern must be written as its UTF-8 bytes (`\xc3\xa9` for `é`).
 * - Bytes received after a match are not lost: they start the next expect
 *   step (a reply may arrive in one segment with the banner before it).
 * - Each step has its own timeout (`-t`, timer `reply`) and may buffer at most
 *   `maxBytes`; the regex never runs on more than that.
 *
 * A step that fails ends the dialog with a {@linkcode DialogVerifyError}
 * (exit 6: the peer answered, but not what was expected) or a
 * {@linkcode DialogNetError} (timeout with nothing received, reset, EOF before
 * any byte of the step). Both carry `step`, `stepText` and `received`.
 *
 * @module
 */

import { NetError, type NetErrorOptions, VerifyError } from "../errors.ts";
import { formatDuration } from "../report/duration.ts";
import { escapeBytes } from "../report/safe_text.ts";
import type { Conn } from "./conn.ts";
import { toNetError } from "./net_errors.ts";

/** One step of a dialog. `text` is how people see it (the flag's value, escapes kept). */
export type DialogStep =
  | { kind: "send"; bytes: Uint8Array; text: string }
  | { kind: "send-hex"; bytes: Uint8Array; text: string }
  | { kind: "expect"; bytes: Uint8Array; text: string }
  | { kind: "expect-hex"; bytes: Uint8Array; text: string }
  | { kind: "expect-re"; re: RegExp; text: string };

/** The kinds of {@linkcode DialogStep}. */
export type DialogStepKind = DialogStep["kind"];

/** How one step went. */
export interface StepResult {
  /** 1-based position in the dialog. */
  step: number;
  /** The step's kind. */
  kind: DialogStepKind;
  /** The step's text. */
  text: string;
  /** Time the step took, ms. */
  ms: number;
  /** True when it completed (sent everything, or matched). */
  ok: boolean;
  /** For expect steps: what the step received up to the end of the match, escaped, truncated. */
  received: string | null;
}

/** What {@linkcode runDialog} resolves to. */
export interface DialogResult {
  /** True when every step completed. */
  ok: boolean;
  /** One entry per step that ran (the failed one last), in order. */
  steps: StepResult[];
  /** Time from the start of the dialog to the first byte received, ms, or null. */
  firstByteMs: number | null;
  /** Total time, ms. */
  ms: number;
  /** The failure, or null. */
  error: DialogVerifyError | DialogNetError | null;
}

/** Where a dialog failed: what {@linkcode DialogVerifyError} and {@linkcode DialogNetError} carry. */
export interface DialogFailure {
  /** 1-based number of the step that failed. */
  readonly step: number;
  /** The step, as `--expect "+PONG"`. */
  readonly stepText: string;
  /** What the step had received, escaped and truncated (`""` for nothing). */
  readonly received: string;
}

/**
 * The peer answered, but not what the step expected (exit 6).
 *
 * @example Read the step from a failure
 * ```ts
 * import { DialogVerifyError } from "./dialog.ts";
 * const err = new DialogVerifyError("did not match", { step: 2, stepText: `--expect "+PONG"`, received: "-ERR" });
 * console.log(err.step, err.received); // 2 -ERR
 * ```
 */
export class DialogVerifyError extends VerifyError implements DialogFailure {
  /** 1-based number of the step that failed. */
  readonly step: number;
  /** The step, as `--expect "+PONG"`. */
  readonly stepText: string;
  /** What the step had received, escaped and truncated. */
  readonly received: string;
  /** Builds the error from the full message and the failure. */
  constructor(message: string, failure: DialogFailure) {
    super(message);
    this.name = "DialogVerifyError";
    this.step = failure.step;
    this.stepText = failure.stepText;
    this.received = failure.received;
  }
}

/**
 * A network failure during a dialog step (timeout, reset, EOF).
 *
 * @example
 * ```ts
 * import { DialogNetError } from "./dialog.ts";
 * const err = new DialogNetError("timeout", "step 1 (--expect \"220\"): timed out", {
 *   op: "dialog",
 *   address: "127.0.0.1:25",
 *   timer: "reply",
 * }, { step: 1, stepText: `--expect "220"`, received: "" });
 * console.log(err.kind, err.step); // timeout 1
 * ```
 */
export class DialogNetError extends NetError implements DialogFailure {
  /** 1-based number of the step that failed. */
  readonly step: number;
  /** The step, as `--expect "+PONG"`. */
  readonly stepText: string;
  /** What the step had received, escaped and truncated. */
  readonly received: string;
  /** Builds the error like a {@linkcode NetError}, plus the failure. */
  constructor(
    kind: NetError["kind"],
    detail: string,
    options: NetErrorOptions,
    failure: DialogFailure,
  ) {
    super(kind, detail, options);
    this.name = "DialogNetError";
    this.step = failure.step;
    this.stepText = failure.stepText;
    this.received = failure.received;
  }
}

/** Options of {@linkcode runDialog}. */
export interface RunDialogOptions {
  /** The steps, run in order. */
  steps: readonly DialogStep[];
  /** The peer's `host:port`, for messages. */
  address: string;
  /** Time allowed for each step, ms (`-t`, timer `reply`). @default {10000} */
  stepTimeoutMs?: number;
  /** The flag that set `stepTimeoutMs`, for messages. @default {"-t"} */
  timeoutFlag?: string;
  /** Most bytes one expect step buffers (and its regex sees). @default {65536} */
  maxBytes?: number;
  /** Most input bytes quoted in messages and `received`. @default {200} */
  quoteBytes?: number;
  /** Parent signal: on abort the conn is closed and the dialog rejects with its reason. @default {undefined} */
  signal?: AbortSignal;
}

/**
 * The flag that writes a step of this kind.
 *
 * @example
 * ```ts
 * import { stepFlag } from "./dialog.ts";
 * console.log(stepFlag("expect-re")); // --expect-re
 * ```
 */
export function stepFlag(kind: DialogStepKind): string {
  return `--${kind}`;
}

/**
 * A step as people read it: `--expect "+PONG"`.
 *
 * @example
 * ```ts
 * import { describeStep } from "./dialog.ts";
 * console.log(describeStep({ kind: "send", text: "PING\\r\\n" }));
 * // --send "PING\r\n"
 * ```
 */
export function describeStep(step: Pick<DialogStep, "kind" | "text">): string {
  return `${stepFlag(step.kind)} "${step.text}"`;
}

/** Index of `needle` in `hay`, or -1 (a naive scan: both are at most 64 KiB by default). */
function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from: number): number {
  if (needle.length === 0) return 0;
  const first = needle[0];
  const last = hay.length - needle.length;
  for (let i = Math.max(0, from); i <= last; i++) {
    i = hay.indexOf(first as number, i);
    if (i < 0 || i > last) return -1;
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

/**
 * Every byte as one character, the text `--expect-re` matches: offsets in it
 * are byte offsets. (`TextDecoder("latin1")` is windows-1252 per WHATWG, not this.)
 *
 * @example
 * ```ts
 * import { bytesToLatin1 } from "./dialog.ts";
 * console.log(bytesToLatin1(new Uint8Array([0x2b, 0xff])).length); // 2
 * ```
 */
export function bytesToLatin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** End offset (exclusive) of the step's match in `received`, or -1. */
function matchEnd(step: DialogStep, received: Uint8Array, scannedTo: number): number {
  if (step.kind === "expect-re") {
    // A fresh RegExp: no lastIndex state from a /g or /y flag leaks between runs.
    const re = new RegExp(step.re.source, step.re.flags.replace(/[gy]/g, ""));
    const m = re.exec(bytesToLatin1(received));
    return m === null ? -1 : m.index + m[0].length;
  }
  if (step.kind === "expect" || step.kind === "expect-hex") {
    // Only bytes that arrived since the last scan can complete a match.
    const at = indexOfBytes(received, step.bytes, scannedTo - step.bytes.length + 1);
    return at < 0 ? -1 : at + step.bytes.length;
  }
  return -1;
}

/**
 * Runs `steps` in order on `conn`. Resolves to the result in every case but
 * one: an abort of `options.signal` closes the conn and rejects with the
 * signal's reason (as a layer does). A step that times out also closes the
 * conn (a pending read cannot be cancelled otherwise); after any failure the
 * conn is of no further use.
 *
 * @example Ask redis for a PONG
 * ```ts
 * import { runDialog } from "./dialog.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 6379 }));
 * const enc = new TextEncoder();
 * const result = await runDialog(conn, {
 *   address: "127.0.0.1:6379",
 *   steps: [
 *     { kind: "send", bytes: enc.encode("PING\r\n"), text: "PING\\r\\n" },
 *     { kind: "expect", bytes: enc.encode("+PONG"), text: "+PONG" },
 *   ],
 *   stepTimeoutMs: 2000,
 * });
 * console.log(result.ok, result.error?.message);
 * conn.close();
 * ```
 */
export async function runDialog(conn: Conn, options: RunDialogOptions): Promise<DialogResult> {
  const stepTimeoutMs = options.stepTimeoutMs ?? 10_000;
  const maxBytes = options.maxBytes ?? 65_536;
  const quote = (bytes: Uint8Array) =>
    escapeBytes(bytes, { maxBytes: options.quoteBytes ?? 200 }).replaceAll('"', '\\"');
  const started = performance.now();
  const steps: StepResult[] = [];
  let firstByteMs: number | null = null;
  let leftover: Uint8Array = new Uint8Array(0);
  const chunk = new Uint8Array(Math.min(maxBytes, 16_384));
  const finish = (error: DialogResult["error"]): DialogResult => ({
    ok: error === null,
    steps,
    firstByteMs,
    ms: performance.now() - started,
    error,
  });
  for (const [index, step] of options.steps.entries()) {
    // Before the listener below: an already-aborted signal never fires "abort".
    if (options.signal?.aborted) {
      conn.close();
      throw options.signal.reason;
    }
    const number = index + 1;
    const stepStarted = performance.now();
    const stepText = describeStep(step);
    const where = `step ${number} (${stepText})`;
    const netOptions = (timer?: "reply"): NetErrorOptions =>
      timer === undefined
        ? { op: "dialog", address: options.address }
        : { op: "dialog", address: options.address, timer };
    const expecting = step.kind !== "send" && step.kind !== "send-hex";
    // Bytes left over from the last match belong to the next expect, not to a send.
    let received: Uint8Array = expecting ? leftover : new Uint8Array(0);
    if (expecting) leftover = new Uint8Array(0);
    const record = (ok: boolean, upTo?: number) =>
      steps.push({
        step: number,
        kind: step.kind,
        text: step.text,
        ms: performance.now() - stepStarted,
        ok,
        received: expecting ? quote(received.subarray(0, upTo)) : null,
      });
    const failure = (): DialogFailure => ({
      step: number,
      stepText,
      received: quote(received),
    });
    const saying = () =>
      received.length === 0 ? "received nothing" : `received "${quote(received)}"`;

    // One timer per step, shared by its reads or its write; it closes the conn
    // because Conn.read has no signal (FACTS.md: a closed conn rejects the read).
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new DOMException("step timed out", "TimeoutError")),
      stepTimeoutMs,
    );
    const signal = options.signal === undefined
      ? timeout.signal
      : AbortSignal.any([options.signal, timeout.signal]);
    const onAbort = () => conn.close();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (step.kind === "send" || step.kind === "send-hex") {
        try {
          await conn.write(step.bytes);
        } catch (err) {
          throw signal.aborted ? signal.reason : err;
        }
        record(true);
        continue;
      }
      let end = matchEnd(step, received, 0);
      let scanned = received.length;
      while (end < 0) {
        if (received.length >= maxBytes) {
          record(false);
          return finish(
            new DialogVerifyError(
              `dialog "${options.address}": ${where}: no match in the first ${maxBytes} bytes; ${saying()}`,
              failure(),
            ),
          );
        }
        let n: number | null;
        try {
          n = await conn.read(
            chunk.subarray(0, Math.min(chunk.length, maxBytes - received.length)),
          );
        } catch (err) {
          throw signal.aborted ? signal.reason : err;
        }
        if (n === null) {
          record(false);
          if (received.length === 0) {
            return finish(
              new DialogNetError(
                "closed",
                `${where}: peer closed the connection; received nothing`,
                netOptions(),
                failure(),
              ),
            );
          }
          return finish(
            new DialogVerifyError(
              `dialog "${options.address}": ${where}: no match before the peer closed; ${saying()}`,
              failure(),
            ),
          );
        }
        firstByteMs ??= performance.now() - started;
        const grown = new Uint8Array(received.length + n);
        grown.set(received);
        grown.set(chunk.subarray(0, n), received.length);
        received = grown;
        end = matchEnd(step, received, scanned);
        scanned = received.length;
      }
      leftover = received.slice(end);
      record(true, end);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      record(false);
      const limit = `${formatDuration(stepTimeoutMs)} (${options.timeoutFlag ?? "-t"})`;
      if (timeout.signal.aborted) {
        // The peer answered something, then went quiet: that is a mismatch,
        // as check_tcp reports it, not a silent peer.
        if (received.length > 0) {
          return finish(
            new DialogVerifyError(
              `dialog "${options.address}": ${where}: no match within ${limit}; ${saying()}`,
              failure(),
            ),
          );
        }
        return finish(
          new DialogNetError(
            "timeout",
            `${where}: timed out after ${limit}; received nothing`,
            { ...netOptions("reply"), cause: err },
            failure(),
          ),
        );
      }
      const net = toNetError(err, { op: "dialog", address: options.address });
      const kind = net instanceof NetError ? net.kind : "io";
      const detail = net.message.replace(/^dialog "[^"]*": /, "");
      return finish(
        new DialogNetError(
          kind,
          `${where}: ${detail}; ${saying()}`,
          { ...netOptions(), cause: err },
          failure(),
        ),
      );
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }
  return finish(null);
}

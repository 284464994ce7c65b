/**
 * The part of `tcpc probe` that runs on one readiness loop (lib/net/mux.ts):
 * dial targets as room frees up, run each target's dialog steps (`--send`,
 * `--expect`, `--proto`...) as a small state machine on the loop's callbacks,
 * and turn each connection's end into a {@linkcode ProbeRecord}. `tcpc probe` runs one
 * shard in its own thread for small runs, and one per worker thread
 * (lib/cli/probe_worker.ts) for large ones.
 *
 * @module
 */

import { roundMs } from "../report/numbers.ts";
import { errorKind, VerifyError } from "../errors.ts";
import { type CloseResult, Mux, type MuxConn } from "./mux.ts";
import { errorRecord } from "../report/error_record.ts";
import { failedConnectState, type ProbeRecord, type ProbeState } from "../report/probe_table.ts";
import { escapeBytes } from "../report/safe_text.ts";
import { formatDuration } from "../report/duration.ts";
import { joinHostPort } from "./address.ts";
import { type MatchEnd, RegexMatcher } from "./regex_matcher.ts";
import { bytesToLatin1, describeStep, type DialogStep } from "./dialog.ts";
import type { ConnFacts } from "./conn.ts";
import type { MuxDialer } from "./mux_types.ts";
import { TlsError } from "./tls_error.ts";

/**
 * The dialog of one target: its steps in order (a `--proto` preset may name
 * the target's host), or null for a connect-only probe.
 */
export type ProbeSteps = (target: ShardTarget) => readonly DialogStep[] | null;

/** One target for a shard: its place in the run, the host as given, where to connect. */
export interface ShardTarget {
  /** Position in the run's target list (records are reported with it). */
  index: number;
  /** Host as given (no brackets). */
  host: string;
  /** Port, 1-65535. */
  port: number;
  /** The resolved IP address to connect to (the name itself when a proxy resolves it). */
  ip: string;
  /** Time the host's resolution took, ms (0 for an IP literal; null when not resolved here). */
  resolveMs: number | null;
}

/** Options of {@linkcode ProbeShard}. */
export interface ProbeShardOptions {
  /** Connect timeout, and the timeout of each dialog step, ms. */
  timeoutMs: number;
  /** Each target's dialog. @default {none: connect only} */
  steps?: ProbeSteps | null;
  /**
   * Makes each connection (the dial stack: proxy, TLS); it is given the
   * target's host as `name`. @default {the loop's plain TCP connect}
   */
  dialer?: MuxDialer;
  /** Targets in progress at once (connect slots: at most 128 of them). @default {256} */
  maxOpen?: number;
  /** Gives the next target to dial, or undefined when there is none for now. */
  next: () => ShardTarget | undefined;
  /** Receives each target's record (in completion order) and the raw failure, if any. */
  onRecord: (index: number, record: ProbeRecord, failure: unknown) => void;
  /** Called when EMFILE lowered the concurrency to `cap`. @default {undefined} */
  onFdLimit?: (cap: number) => void;
  /**
   * Other threads share the process's descriptors (see lib/net/mux.ts
   * `sharedFds`). @default {false}
   */
  sharedFds?: boolean;
  /** Cancels the shard. @default {undefined} */
  signal?: AbortSignal;
}

/**
 * Most bytes one dialog step keeps for matching (`--expect`, `--expect-re`):
 * with the match's time bound (lib/net/regex_matcher.ts) this caps what one
 * expression can cost.
 */
const MAX_REPLY_BYTES = 65536;
/** Bytes of the reply kept for the record's `reply` and the step's `received`. */
const RECORD_BYTES = 256;
/** Bytes of the step's input quoted in a mismatch message. */
const MESSAGE_BYTES = 64;

/** Per-target state on the loop. */
interface ProbeTarget {
  target: ShardTarget;
  /** The dialog, or null: connect only. */
  steps: readonly DialogStep[] | null;
  /** Index of the current step; `steps.length` once every step is done. */
  step: number;
  /** `performance.now()` when the current step started. */
  stepStartedAt: number;
  /** The first bytes of the whole reply, for the record's `reply`. */
  head: Uint8Array | null;
  headLength: number;
  /** The current step's input: bytes not consumed by an earlier match. */
  input: Uint8Array | null;
  inputLength: number;
  /** `--expect`/`--expect-hex`: bytes of `input` already searched. */
  scanned: number;
  /** `--expect-re`: `inputLength` when the last match without result started; -1 before any. */
  tried: number;
  /** A send step's write is queued. */
  sending: boolean;
  /** An `--expect-re` match is running in the matcher thread. */
  matching: boolean;
  /** The match ran into the deadline (too much backtracking). */
  matchTimedOut: boolean;
  /** Why the step failed, when the shard decided it (not a timeout or the peer). */
  failure: string | null;
  /** The connection closed with steps left: its record waits for them to settle. */
  closedWith: CloseResult | null;
  /** What the dial stack learned, once open. */
  facts: ConnFacts | null;
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  outer: for (
    let i = haystack.indexOf(first ?? 0, Math.max(0, from));
    i >= 0 && i <= last;
    i = haystack.indexOf(first ?? 0, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Appends `chunk` to `buffer` (grown by doubling up to `max`); returns the buffer. */
function append(
  buffer: Uint8Array | null,
  length: number,
  chunk: Uint8Array,
  max: number,
): Uint8Array {
  const need = Math.min(max, length + chunk.length);
  let out = buffer ?? new Uint8Array(Math.min(max, Math.max(1024, need)));
  if (need > out.length) {
    const grown = new Uint8Array(Math.min(max, Math.max(need, out.length * 2)));
    grown.set(out.subarray(0, length));
    out = grown;
  }
  out.set(chunk.subarray(0, need - length), length);
  return out;
}

/** How a mismatch names what the step wanted. */
function wanted(step: DialogStep): string {
  switch (step.kind) {
    case "expect":
      return `"${step.text}"`;
    case "expect-hex":
      return `hex "${step.text}"`;
    case "expect-re":
      return `/${step.text}/`;
    default:
      return "";
  }
}

/**
 * One readiness loop probing the targets that `next()` hands it, at most
 * `maxOpen` at a time; `run()` ends when `next()` has nothing more and every
 * dialed target has its record. Call `feed()` when `next()` has new targets,
 * and `run()` again if it had ended.
 *
 * A target with steps runs them in order once open: a send step queues its
 * bytes and ends when they are written; an expect step ends when its input
 * (bytes received since the last match) contains or matches what it wants,
 * and the bytes after the match start the next step's input. Each step has
 * `timeoutMs` from its start. A regex matches in a worker thread
 * (lib/net/regex_matcher.ts) under the step's deadline, so a catastrophic one
 * cannot stall the loop. When the peer closes with steps left, the steps go
 * on over what had arrived, then the target is a `mismatch` naming its step.
 *
 * @example Probe two ports
 * ```ts
 * import { ProbeShard, type ShardTarget } from "./probe_shard.ts";
 * const targets: ShardTarget[] = [80, 443].map((port, index) => ({
 *   index, host: "127.0.0.1", port, ip: "127.0.0.1", resolveMs: 0,
 * }));
 * const shard = new ProbeShard({
 *   timeoutMs: 2000,
 *   next: () => targets.shift(),
 *   onRecord: (index, record) => console.log(index, record.state),
 * });
 * await shard.run();
 * ```
 */
export class ProbeShard {
  /** The loop (for `after()` timers and stats). */
  readonly mux: Mux<ProbeTarget>;
  #next: () => ShardTarget | undefined;
  #window: number;
  #live = 0;
  #timeoutMs: number;
  #steps: ProbeSteps | null;
  /** One matcher (one thread, started at its first match) per distinct expression. */
  #matchers = new Map<string, RegexMatcher>();
  #matches = new Set<Promise<void>>();

  /** Builds the loop; nothing is dialed before `feed()` or `run()`. */
  constructor(options: ProbeShardOptions) {
    const timeoutMs = options.timeoutMs;
    const maxOpen = Math.max(1, options.maxOpen ?? 256);
    this.#steps = options.steps ?? null;
    this.#next = options.next;
    this.#window = Math.max(maxOpen * 2, 256);
    this.#timeoutMs = timeoutMs;
    const onRecord = options.onRecord;

    const onClose = (conn: MuxConn<ProbeTarget>, result: CloseResult) => {
      this.#live--;
      if (result.reason === "aborted") return;
      const t = conn.state;
      if (
        !result.connected || t.steps === null || t.step >= t.steps.length || t.failure !== null
      ) {
        report(conn, result);
      } else {
        // Steps are left: they go on over what arrived (a peer may answer
        // and close at once), then the record is made. The slot is free now.
        t.closedWith = result;
        if (!t.matching) pump(conn);
      }
      this.feed();
    };

    const report = (conn: MuxConn<ProbeTarget>, result: CloseResult) => {
      const t = conn.state;
      const target = t.target;
      const error = result.error;
      const facts = t.facts;
      let state: ProbeState;
      let failure: unknown = null;
      let failedStep: number | null = null;
      let received: string | null = null;
      if (!result.connected) {
        failure = error;
        state = failedConnectState(errorKind(error));
      } else if (t.steps !== null && t.step < t.steps.length) {
        state = "mismatch";
        const step = t.steps[t.step]!;
        failedStep = t.step + 1;
        const input = t.input?.subarray(0, t.inputLength) ?? new Uint8Array(0);
        received = escapeBytes(input, { maxBytes: RECORD_BYTES });
        // Escaped once here; errorRecord keeps the backslashes.
        const got = input.length === 0
          ? "nothing"
          : `"${escapeBytes(input, { maxBytes: MESSAGE_BYTES })}"`;
        const why = t.matchTimedOut
          ? ` (the match took longer than ${
            formatDuration(timeoutMs)
          } on ${input.length} bytes: too much backtracking)`
          : t.failure !== null
          ? ` (${t.failure})`
          : result.reason === "timeout"
          ? ` within ${formatDuration(timeoutMs)}`
          : result.reason === "eof"
          ? " before the peer closed"
          : error instanceof Error
          ? ` (${error.message})`
          : "";
        const where = `step ${failedStep} (${describeStep(step)})`;
        failure = new VerifyError(
          step.kind === "send" || step.kind === "send-hex"
            ? `send "${conn.address}": ${where}: not sent${why}`
            : `expect "${conn.address}": ${where}: expected ${wanted(step)}, got ${got}${why}`,
        );
      } else state = "open";
      onRecord(target.index, {
        target: joinHostPort(target.host, target.port),
        host: target.host,
        port: target.port,
        address: conn.address,
        state,
        timings: {
          resolveMs: roundMs(target.resolveMs),
          // With layers the loop's connect time spans them all: report TCP alone.
          connectMs: roundMs(facts?.timings.connectMs ?? result.connectMs),
          proxyMs: roundMs(facts?.timings.proxyMs ?? null),
          tlsMs: roundMs(facts?.timings.tlsMs ?? null),
          firstByteMs: roundMs(result.firstByteMs),
          totalMs: roundMs(result.totalMs),
        },
        bytesSent: result.bytesOut,
        bytesReceived: result.bytesIn,
        reply: t.headLength === 0
          ? null
          : escapeBytes(t.head!.subarray(0, t.headLength), { maxBytes: RECORD_BYTES }),
        step: failedStep,
        received,
        tls: facts?.tls ?? (error instanceof TlsError ? error.facts : null),
        proxy: facts?.proxy ?? null,
        error: failure === null ? null : errorRecord(failure),
      }, failure);
    };

    /** The record of a closed connection whose steps have settled (done or failed). */
    const settle = (conn: MuxConn<ProbeTarget>) => {
      const closed = conn.state.closedWith;
      if (closed === null) return; // aborted with the loop: no record
      conn.state.closedWith = null;
      report(conn, closed);
    };

    /** The current step failed for `why`: end the connection (or, closed, its record). */
    const fail = (conn: MuxConn<ProbeTarget>, why: string) => {
      conn.state.failure = why;
      if (conn.phase === "open") conn.close(new VerifyError(why));
      else settle(conn);
    };

    const nextStep = (conn: MuxConn<ProbeTarget>) => {
      const t = conn.state;
      t.step++;
      t.scanned = 0;
      t.tried = -1;
      t.stepStartedAt = performance.now();
      // Each step has the whole timeout, from its start (check_tcp -t per step).
      if (conn.phase === "open" && t.step < t.steps!.length) conn.setDeadline("total", timeoutMs);
    };

    /** Drops the input up to `end` (the match): the rest is the next step's. */
    const consume = (t: ProbeTarget, end: number) => {
      t.input?.copyWithin(0, end, t.inputLength);
      t.inputLength -= end;
    };

    /**
     * Runs steps as far as they can go now; called on open, on data, when a
     * send is written, when a match settles and when the peer closes.
     */
    const pump = (conn: MuxConn<ProbeTarget>): void => {
      const t = conn.state;
      const steps = t.steps!;
      const open = conn.phase === "open";
      if (!open && t.closedWith === null) return; // aborted, or reported already
      for (;;) {
        const step = steps[t.step];
        if (step === undefined) {
          // Every step done: closing makes the record (state open).
          if (open) conn.close();
          else settle(conn);
          return;
        }
        if (step.kind === "send" || step.kind === "send-hex") {
          if (!open) return settle(conn);
          if (!t.sending) {
            t.sending = true;
            conn.write(step.bytes);
          }
          return;
        }
        const input = t.input?.subarray(0, t.inputLength) ?? new Uint8Array(0);
        if (step.kind === "expect-re") {
          if (t.matching) return; // it runs again on the new bytes when it settles
          if (t.tried !== t.inputLength) return startMatch(conn, step.re);
        } else {
          const at = indexOfBytes(input, step.bytes, t.scanned - step.bytes.length + 1);
          if (at >= 0) {
            consume(t, at + step.bytes.length);
            nextStep(conn);
            continue;
          }
          t.scanned = t.inputLength;
        }
        if (t.inputLength >= MAX_REPLY_BYTES) {
          return fail(conn, `no match in the first ${MAX_REPLY_BYTES} bytes`);
        }
        if (!open) return settle(conn);
        return; // wait for bytes
      }
    };

    /** Runs an `--expect-re` step on its input, off this thread and bounded by the step's deadline. */
    const startMatch = (conn: MuxConn<ProbeTarget>, re: RegExp) => {
      const t = conn.state;
      t.matching = true;
      t.tried = t.inputLength;
      const deadline = t.stepStartedAt + timeoutMs;
      const text = bytesToLatin1(t.input?.subarray(0, t.inputLength) ?? new Uint8Array(0));
      const done = this.#matcher(re).matchEnd(text, { deadline }).then((end: MatchEnd) => {
        this.#matches.delete(done);
        t.matching = false;
        if (conn.phase !== "open" && t.closedWith === null) return; // aborted
        if (end === "timeout") {
          t.matchTimedOut = true;
          return fail(conn, "match took too long");
        }
        if (end >= 0) {
          consume(t, end);
          nextStep(conn);
        }
        pump(conn);
      });
      this.#matches.add(done);
    };

    this.mux = new Mux<ProbeTarget>({
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.dialer === undefined ? {} : { dialer: options.dialer }),
      maxConnecting: maxOpen,
      maxOpen,
      readBufferSize: 4096,
      onFdLimit: (cap) => {
        if (cap > 0) options.onFdLimit?.(cap);
      },
      sharedFds: options.sharedFds ?? false,
      handler: {
        onOpen(conn) {
          const t = conn.state;
          t.facts = conn.conn?.facts ?? null;
          if (t.steps === null) return conn.close();
          t.stepStartedAt = performance.now();
          conn.setDeadline("total", timeoutMs);
          pump(conn);
        },
        onWritten(conn) {
          const t = conn.state;
          if (!t.sending) return;
          t.sending = false;
          nextStep(conn);
          pump(conn);
        },
        onData(conn, chunk) {
          const t = conn.state;
          // One byte more than shown, so that `reply` can say it goes on.
          if (t.headLength <= RECORD_BYTES) {
            t.head = append(t.head, t.headLength, chunk, RECORD_BYTES + 1);
            t.headLength = Math.min(RECORD_BYTES + 1, t.headLength + chunk.length);
          }
          if (t.steps === null) return;
          t.input = append(t.input, t.inputLength, chunk, MAX_REPLY_BYTES);
          t.inputLength = Math.min(MAX_REPLY_BYTES, t.inputLength + chunk.length);
          pump(conn);
        },
        onClose,
      },
    });
  }

  /** The matcher thread of one expression (`g`/`y` dropped: every match starts at 0). */
  #matcher(re: RegExp): RegexMatcher {
    const flags = re.flags.replace(/[gy]/g, "");
    const key = `${flags}/${re.source}`;
    let matcher = this.#matchers.get(key);
    if (matcher === undefined) {
      matcher = new RegexMatcher({ source: re.source, flags });
      this.#matchers.set(key, matcher);
    }
    return matcher;
  }

  /** Dials targets from `next()` until the window is full or `next()` has none. */
  feed(): void {
    // Targets are dialed lazily so memory stays bounded by the concurrency.
    while (this.#live < this.#window) {
      const target = this.#next();
      if (target === undefined) return;
      this.#live++;
      const given = this.#steps?.(target) ?? null;
      const steps = given === null || given.length === 0 ? null : given;
      this.mux.dial({
        hostname: target.ip,
        port: target.port,
        name: target.host,
        state: {
          target,
          steps,
          step: 0,
          stepStartedAt: 0,
          head: null,
          headLength: 0,
          input: null,
          inputLength: 0,
          scanned: 0,
          tried: -1,
          sending: false,
          matching: false,
          matchTimedOut: false,
          failure: null,
          closedWith: null,
          facts: null,
        },
        read: steps !== null && steps.some((step) => step.kind.startsWith("expect")),
        connectTimeoutMs: this.#timeoutMs,
      });
    }
  }

  /** Feeds, then runs the loop until nothing is left (see the class docs). */
  async run(): Promise<void> {
    this.feed();
    try {
      await this.mux.run();
      // Records of connections that closed while their input was being matched.
      while (this.#matches.size > 0) await Promise.all(this.#matches);
    } finally {
      for (const matcher of this.#matchers.values()) matcher.close();
      this.#matchers.clear();
    }
  }
}

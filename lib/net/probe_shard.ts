/**
 * The part of `tcpc probe` that runs on one readiness loop (lib/net/mux.ts):
 * dial targets as room frees up, run the `--send`/`--expect` check, and turn
 * each connection's end into a {@linkcode ProbeRecord}. `tcpc probe` runs one
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
import { RegexMatcher } from "./regex_matcher.ts";
import type { ConnFacts } from "./conn.ts";
import type { MuxDialer } from "./mux_types.ts";
import { TlsError } from "./tls.ts";

/** What the reply must contain (`--expect`) or match (`--expect-re`). */
export type ProbeExpect = { bytes: Uint8Array; text: string } | { re: RegExp; text: string };

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
  /** Connect timeout, and the reply timeout after connect, ms. */
  timeoutMs: number;
  /** Bytes to send once connected. @default {null} */
  send?: Uint8Array | null;
  /** What the reply must contain or match. @default {null} */
  expect?: ProbeExpect | null;
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
 * Most bytes of a reply kept for matching (`--expect` and `--expect-re`): with
 * the match's time bound (lib/net/regex_matcher.ts) this caps what one
 * expression can cost.
 */
const MAX_REPLY_BYTES = 65536;

/** Per-target state on the loop. */
interface ProbeTarget {
  target: ShardTarget;
  reply: Uint8Array | null;
  replyLength: number;
  matched: boolean;
  /** An `--expect-re` match is running in the matcher thread. */
  matching: boolean;
  /** Bytes came while it ran: match again when it ends. */
  dirty: boolean;
  /** The match ran into the deadline (too much backtracking). */
  matchTimedOut: boolean;
  /** The connection closed while a match ran: its record waits for the match. */
  closedWith: CloseResult | null;
  /** What the dial stack learned, once open. */
  facts: ConnFacts | null;
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

/**
 * One readiness loop probing the targets that `next()` hands it, at most
 * `maxOpen` at a time; `run()` ends when `next()` has nothing more and every
 * dialed target has its record. Call `feed()` when `next()` has new targets,
 * and `run()` again if it had ended.
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
  #wantsReply: boolean;
  #regex: RegExp | null;
  #matcher: RegexMatcher | null = null;
  #matches = new Set<Promise<void>>();

  /** Builds the loop; nothing is dialed before `feed()` or `run()`. */
  constructor(options: ProbeShardOptions) {
    const timeoutMs = options.timeoutMs;
    const send = options.send ?? null;
    const expect = options.expect ?? null;
    const maxOpen = Math.max(1, options.maxOpen ?? 256);
    const wantsReply = expect !== null;
    const checks = send !== null || wantsReply;
    const expectLabel = expect === null
      ? ""
      : "bytes" in expect
      ? `"${expect.text}"`
      : `/${expect.text}/`;
    this.#regex = expect !== null && "re" in expect ? expect.re : null;
    this.#next = options.next;
    this.#window = Math.max(maxOpen * 2, 256);
    this.#timeoutMs = timeoutMs;
    this.#wantsReply = wantsReply;
    const onRecord = options.onRecord;

    const onClose = (conn: MuxConn<ProbeTarget>, result: CloseResult) => {
      this.#live--;
      if (result.reason === "aborted") return;
      if (conn.state.matching) {
        // The reply may still match: the record waits for the matcher (at
        // most until the deadline), the slot is free now.
        conn.state.closedWith = result;
      } else report(conn, result);
      this.feed();
    };

    const report = (conn: MuxConn<ProbeTarget>, result: CloseResult) => {
      const t = conn.state;
      const target = t.target;
      const error = result.error;
      const facts = t.facts;
      let state: ProbeState;
      let failure: unknown = null;
      if (!result.connected) {
        failure = error;
        state = failedConnectState(errorKind(error));
      } else if (checks && !t.matched) {
        state = "mismatch";
        // Raw text: errorRecord escapes the whole message once.
        const got = t.replyLength === 0
          ? "nothing"
          : `"${decoder.decode(t.reply!.subarray(0, Math.min(64, t.replyLength)))}${
            t.replyLength > 64 ? "..." : ""
          }"`;
        const why = t.matchTimedOut
          ? ` (the match took longer than ${
            formatDuration(timeoutMs)
          } on ${t.replyLength} bytes: too much backtracking)`
          : result.reason === "timeout"
          ? ` within ${formatDuration(timeoutMs)}`
          : result.reason === "eof"
          ? " before the peer closed"
          : error instanceof Error
          ? ` (${error.message})`
          : "";
        failure = new VerifyError(
          wantsReply
            ? `expect "${conn.address}": expected ${expectLabel}, got ${got}${why}`
            : `send "${conn.address}": not sent${why}`,
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
        reply: t.replyLength === 0
          ? null
          : escapeBytes(t.reply!.subarray(0, t.replyLength), { maxBytes: 256 }),
        tls: facts?.tls ?? (error instanceof TlsError ? error.facts : null),
        proxy: facts?.proxy ?? null,
        error: failure === null ? null : errorRecord(failure),
      }, failure);
    };

    /** Runs `--expect-re` on the reply so far, off this thread and bounded by the deadline. */
    const startMatch = (conn: MuxConn<ProbeTarget>) => {
      const t = conn.state;
      t.matching = true;
      t.dirty = false;
      this.#matcher ??= new RegexMatcher({
        source: this.#regex!.source,
        flags: this.#regex!.flags,
      });
      const deadline = (conn.openedAt ?? performance.now()) + timeoutMs;
      const text = decoder.decode(t.reply!.subarray(0, t.replyLength));
      const done = this.#matcher.match(text, { deadline }).then((outcome) => {
        this.#matches.delete(done);
        t.matching = false;
        if (outcome === true) t.matched = true;
        if (outcome === "timeout") t.matchTimedOut = true;
        const closed = t.closedWith;
        if (closed !== null) {
          if (outcome === false && t.dirty) return startMatch(conn);
          t.closedWith = null;
          return report(conn, closed);
        }
        if (conn.phase !== "open") return; // aborted
        if (outcome === true) conn.close();
        else if (outcome === "timeout") conn.close(new VerifyError("match took too long"));
        else if (t.dirty) startMatch(conn);
        else if (t.replyLength >= MAX_REPLY_BYTES) {
          conn.close(new VerifyError(`no match in the first ${MAX_REPLY_BYTES} bytes`));
        }
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
          conn.state.facts = conn.conn?.facts ?? null;
          if (!checks) return conn.close();
          conn.setDeadline("total", timeoutMs);
          if (send !== null) conn.write(send);
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
          if (expect !== null && !("bytes" in expect)) {
            if (n === 0) return;
            if (t.matching) t.dirty = true;
            else startMatch(conn);
            return;
          }
          if (
            expect === null || indexOfBytes(t.reply.subarray(0, t.replyLength), expect.bytes) >= 0
          ) {
            t.matched = true;
            conn.close();
          } else if (t.replyLength >= MAX_REPLY_BYTES) {
            conn.close(new VerifyError(`no match in the first ${MAX_REPLY_BYTES} bytes`));
          }
        },
        onClose,
      },
    });
  }

  /** Dials targets from `next()` until the window is full or `next()` has none. */
  feed(): void {
    // Targets are dialed lazily so memory stays bounded by the concurrency.
    while (this.#live < this.#window) {
      const target = this.#next();
      if (target === undefined) return;
      this.#live++;
      this.mux.dial({
        hostname: target.ip,
        port: target.port,
        name: target.host,
        state: {
          target,
          reply: null,
          replyLength: 0,
          matched: false,
          matching: false,
          dirty: false,
          matchTimedOut: false,
          closedWith: null,
          facts: null,
        },
        read: this.#wantsReply,
        connectTimeoutMs: this.#timeoutMs,
      });
    }
  }

  /** Feeds, then runs the loop until nothing is left (see the class docs). */
  async run(): Promise<void> {
    this.feed();
    try {
      await this.mux.run();
      // Records of connections that closed while their reply was being matched.
      while (this.#matches.size > 0) await Promise.all(this.#matches);
    } finally {
      this.#matcher?.close();
      this.#matcher = null;
    }
  }
}

/**
 * The connection driver of `tcpc echo`, on the readiness loop (lib/net/mux.ts):
 * each connection is an {@linkcode EchoState} plus these steps, run from the
 * loop's callbacks:
 *
 *  1. open: record the connect time, send the first batch (as many messages as
 *     `pipeline` allows, one write);
 *  2. data: check the bytes against the awaited replies (lib/net/echo_state.ts);
 *     each complete reply records its round trip and frees a slot; the next
 *     batch goes out once the write in flight is done (one write in flight per
 *     connection: that is the backpressure);
 *  3. last reply: half-close (shutdown SHUT_WR) and read to EOF, counting any
 *     bytes the peer still sends as leftover; EOF closes the connection (the
 *     recipe's shutdown sequence).
 *
 * A connection ends badly when a reply differs (VerifyError, exit 6), a reply
 * or the final EOF does not come within `replyTimeoutMs` (timeout, exit 4), or
 * the peer closes or resets first (exit 1). Others go on: the run reports every
 * connection. The per-reply timer is the loop's `total` deadline of that
 * connection, moved forward at each reply (one heap entry, re-checked lazily),
 * so a run of a million replies arms no timer per reply.
 *
 * @module
 */

import { NetError, VerifyError } from "../errors.ts";
import { formatDuration } from "../report/duration.ts";
import { Histogram } from "../report/histogram.ts";
import { joinHostPort } from "./address.ts";
import { dial, resolve } from "./dial.ts";
import { EchoState, type Mismatch } from "./echo_state.ts";
import { Mux, type MuxConn } from "./mux.ts";
import type { ConnFacts, TlsFacts } from "./conn.ts";
import type { MuxDialer } from "./mux_types.ts";
import { TlsError } from "./tls_error.ts";

/** Options of {@linkcode runEchoLoad}. */
export interface EchoRunOptions {
  /** The messages to send in turn. */
  messages: Uint8Array[];
  /** The reply every message must get; unset: the message itself (echo). @default {undefined} */
  expect?: Uint8Array;
  /** Messages per connection; Infinity with `durationMs`. @default {messages.length} */
  count?: number;
  /** Send for this long, then finish the replies in flight, ms. @default {undefined} */
  durationMs?: number;
  /** Connections at once. @default {1} */
  connections?: number;
  /** Messages in flight per connection. @default {1} */
  pipeline?: number;
  /** Each connect must finish within this, ms. @default {undefined} (the kernel's limit) */
  connectTimeoutMs?: number;
  /** Each reply, and the EOF after our half-close, must come within this, ms. @default {10000} */
  replyTimeoutMs?: number;
  /** Only this address family. @default {undefined} (the first address resolved) */
  family?: 4 | 6;
  /** Aborting closes everything (the run deadline, SIGINT). @default {undefined} */
  signal?: AbortSignal;
  /**
   * Makes each connection (the dial stack: proxy, TLS), given `host` as the
   * target's name. @default {the loop's plain TCP connect}
   */
  dialer?: MuxDialer;
  /**
   * Resolve `host` here once before dialing; false when a proxy resolves it
   * (socks5h, socks4a, http) or resolves it in its own layer. @default {true}
   */
  resolveHere?: boolean;
  /** Connects in flight at once. @default {256} */
  maxConnecting?: number;
  /** Called with every chunk written (for `-vv`). @default {undefined} */
  onSent?: (connection: number, bytes: Uint8Array) => void;
  /** Called with every chunk read (for `-vv`); valid only during the call. @default {undefined} */
  onReceived?: (connection: number, bytes: Uint8Array) => void;
  /** Called with each connection's life events (for `-v`). @default {undefined} */
  onEvent?: (connection: number, event: string) => void;
}

/** One connection that did not finish cleanly. */
export interface EchoFailure {
  /** The connection, numbered from 1 in dial order. */
  connection: number;
  /** What ended it (a NetError, a VerifyError, or the run's abort reason). */
  error: unknown;
  /** For a reply that differed: where. */
  mismatch?: Mismatch;
}

/** What a run did, summed over its connections. */
export interface EchoRunResult {
  /** The address dialed, `ip:port`. */
  address: string;
  /** Connections attempted. */
  attempted: number;
  /** Connections that opened. */
  connected: number;
  /** Connections that got every reply right and saw EOF after the half-close. */
  ok: number;
  /** Connections that ended badly, in the order they ended. */
  failures: EchoFailure[];
  /** Messages written completely. */
  messagesSent: number;
  /** Replies that came back complete and right. */
  verified: number;
  /** Bytes written. */
  bytesSent: number;
  /** Bytes read, leftovers included. */
  bytesReceived: number;
  /** Bytes read after a connection's last reply. */
  leftoverBytes: number;
  /** Connections that sent leftovers. */
  leftoverConnections: number;
  /** Round trips of verified replies, from the write being issued to the last byte read. */
  rtt: Histogram;
  /** Connect times (connect start to open). */
  connect: Histogram;
  /** Wall time from the first connect to the last close, ms. */
  elapsedMs: number;
  /** The run-wide abort reason (`--deadline`, SIGINT), or null. */
  aborted: unknown;
  /** What the layers of the first connection that opened learned, or null. */
  facts: ConnFacts | null;
  /** The TLS facts of the first connection whose TLS failed, or null. */
  failedTls: TlsFacts | null;
}

interface ConnState {
  echo: EchoState;
  /** Messages in the write in flight (one write in flight, so one number). */
  writing: number;
  /** Half-closed after the last reply: waiting for EOF. */
  draining: boolean;
  /** Our own reason to close (a mismatch), set before `close(error)`. */
  mismatch: Mismatch | null;
}

function hexByte(byte: number): string {
  const printable = byte >= 0x21 && byte <= 0x7e ? ` '${String.fromCharCode(byte)}'` : "";
  return `0x${byte.toString(16).padStart(2, "0")}${printable}`;
}

/** Re-words a loop error to say which connection and message it hit. */
function locate(error: unknown, where: string): unknown {
  if (!(error instanceof NetError)) return error;
  const prefix = error.address ? `${error.op} "${error.address}": ` : `${error.op}: `;
  const detail = error.message.startsWith(prefix)
    ? error.message.slice(prefix.length)
    : error.message;
  const options: ConstructorParameters<typeof NetError>[2] = {
    op: error.op,
    address: error.address,
    cause: error.cause ?? error,
  };
  if (error.timer !== undefined) options.timer = error.timer;
  return new NetError(error.kind, `${where}: ${detail}`, options);
}

/**
 * Runs an echo or request/response load: `connections` connections to
 * `host:port`, each sending `count` messages (or for `durationMs`) with up to
 * `pipeline` in flight, every reply checked by content. Never throws for a
 * connection's failure (they are in `failures`); throws only when the host
 * cannot be resolved or a callback has a bug.
 *
 * @example Ten connections, 100 messages each, against a local echo server
 * ```ts
 * import { runEchoLoad } from "./echo_driver.ts";
 * const result = await runEchoLoad("127.0.0.1", 7, {
 *   messages: [new TextEncoder().encode("hello\n")],
 *   count: 100,
 *   connections: 10,
 *   replyTimeoutMs: 2000,
 * });
 * console.log(result.verified, result.rtt.summary().p99Us, result.failures.length);
 * ```
 */
export async function runEchoLoad(
  host: string,
  port: number,
  options: EchoRunOptions,
): Promise<EchoRunResult> {
  const resolveOptions: Parameters<typeof resolve>[1] = {};
  if (options.signal) resolveOptions.signal = options.signal;
  if (options.family) resolveOptions.family = options.family;
  if (options.connectTimeoutMs !== undefined) {
    resolveOptions.connectTimeoutMs = options.connectTimeoutMs;
  }
  const addresses = options.resolveHere === false ? [host] : await resolve(host, resolveOptions);
  const [hostname = host] = addresses;
  // A name with more than one address: every connection dials it the way
  // connect does (Happy Eyeballs over all of them), not just the first address.
  const dialer: MuxDialer | undefined = options.dialer ??
    (addresses.length > 1
      ? (target, signal) =>
        dial(host, port, {
          signal,
          noDelay: target.noDelay,
          ...(options.family ? { family: options.family } : {}),
        })
      : undefined);
  const address = joinHostPort(hostname, port);
  const connections = options.connections ?? 1;
  const replyTimeoutMs = options.replyTimeoutMs ?? 10_000;
  const count = options.count ?? options.messages.length;
  const pipeline = options.pipeline ?? 1;
  const { onSent, onReceived, onEvent } = options;
  const replyBytes = options.expect?.length ??
    Math.max(...options.messages.map((m) => m.length));

  const result: EchoRunResult = {
    address,
    attempted: connections,
    connected: 0,
    ok: 0,
    failures: [],
    messagesSent: 0,
    verified: 0,
    bytesSent: 0,
    bytesReceived: 0,
    leftoverBytes: 0,
    leftoverConnections: 0,
    rtt: new Histogram(),
    connect: new Histogram(),
    elapsedMs: 0,
    aborted: null,
    facts: null,
    failedTls: null,
  };
  const live = new Set<MuxConn<ConnState>>();
  let stopDuration: (() => void) | null = null;
  /** The `--duration` is over: connections that open from now on send nothing. */
  let timeUp = false;

  /**
   * Sends the next batch if no write is in flight, or half-closes after the
   * last reply. `now` stamps the batch: the time of the loop pass handling the event
   * (the loop's `lastProgress` after a read), at most that pass's handling
   * time before the write is issued; unset, the clock is read only if a batch goes out.
   */
  const pump = (conn: MuxConn<ConnState>, now?: number) => {
    const s = conn.state;
    if (s.draining || s.writing > 0) return;
    const echo = s.echo;
    if (echo.done) {
      s.draining = true;
      onEvent?.(conn.id, `all ${echo.replied} replies verified: half-close, reading to EOF`);
      conn.closeWrite();
      conn.setDeadline("total", replyTimeoutMs);
      return;
    }
    const before = echo.sent;
    const wasAwaiting = echo.awaiting;
    if (!echo.canSend) return;
    const batch = echo.takeBatch(now ?? performance.now());
    if (batch === null) return;
    s.writing = echo.sent - before;
    conn.write(batch);
    // The per-reply timer starts with the first message awaited; replies move it on.
    if (!wasAwaiting) conn.setDeadline("total", replyTimeoutMs);
  };

  const fail = (conn: MuxConn<ConnState>, error: unknown) => {
    const failure: EchoFailure = { connection: conn.id, error };
    if (conn.state.mismatch) failure.mismatch = conn.state.mismatch;
    result.failures.push(failure);
  };

  const mux = new Mux<ConnState>({
    ...(options.signal ? { signal: options.signal } : {}),
    ...(dialer ? { dialer } : {}),
    maxConnecting: options.maxConnecting ?? 256,
    // Enough for every reply in flight on few connections; small with many.
    readBufferSize: connections > 1000
      ? 16384
      : Math.min(262144, Math.max(16384, replyBytes * pipeline)),
    onFdLimit: (cap) =>
      onEvent?.(0, `out of file descriptors: at most ${cap} connections at once (ulimit -n)`),
    handler: {
      onOpen(conn) {
        live.add(conn);
        result.connected++;
        result.facts ??= conn.conn?.facts ?? null;
        result.connect.recordMs((conn.openedAt ?? conn.startedAt) - conn.startedAt);
        onEvent?.(conn.id, `connected to ${conn.address}`);
        if (timeUp) conn.state.echo.stop();
        pump(conn, conn.lastProgress);
      },
      onWritten(conn, data) {
        const s = conn.state;
        result.messagesSent += s.writing;
        s.writing = 0;
        onSent?.(conn.id, data);
        // No time here: the loop stamps a write's completion lazily.
        pump(conn);
      },
      onData(conn, chunk) {
        onReceived?.(conn.id, chunk);
        const s = conn.state;
        const echo = s.echo;
        const now = conn.lastProgress;
        const before = echo.replied;
        // RTTs go straight into result.rtt (the state's sink): no array per reply.
        const got = echo.receive(chunk, now);
        const replies = echo.replied - before;
        result.verified += replies;
        if (got.mismatch) {
          const m = got.mismatch;
          s.mismatch = m;
          conn.close(
            new VerifyError(
              `verify "${conn.address}": connection ${conn.id}, message ${m.message}: reply differs at byte ${m.offset}: expected ${
                hexByte(m.expected)
              }, got ${hexByte(m.got)}`,
            ),
          );
          return;
        }
        if (got.unexpected > 0 && !echo.done) {
          conn.close(
            new VerifyError(
              `verify "${conn.address}": connection ${conn.id}: ${got.unexpected} unexpected bytes before message ${echo.currentMessage} was sent`,
            ),
          );
          return;
        }
        if (replies > 0) {
          if (echo.awaiting) conn.setDeadline("total", replyTimeoutMs);
          pump(conn, now);
        }
      },
      onEof(conn) {
        const echo = conn.state.echo;
        if (echo.done) return;
        // The peer closed before every reply came: the recipe would spin forever here.
        conn.close(
          new NetError(
            "closed",
            `peer closed the connection before the reply was complete (${echo.replied} of ${
              Number.isFinite(count) ? count : echo.sent
            } replies verified)`,
            { op: "read", address: conn.address },
          ),
        );
      },
      onClose(conn, closed) {
        live.delete(conn);
        if (closed.error instanceof TlsError) result.failedTls ??= closed.error.facts;
        const s = conn.state;
        const echo = s.echo;
        result.bytesSent += closed.bytesOut;
        result.bytesReceived += closed.bytesIn;
        if (echo.leftover > 0 && echo.done) {
          result.leftoverBytes += echo.leftover;
          result.leftoverConnections++;
        }
        if (closed.reason === "eof") {
          result.ok++;
          onEvent?.(conn.id, `closed after EOF`);
        } else if (closed.reason === "timeout" && (closed.error as NetError)?.timer === "total") {
          fail(
            conn,
            s.draining
              ? new NetError(
                "timeout",
                `connection ${conn.id}: no EOF within ${
                  formatDuration(replyTimeoutMs)
                } after our half-close (--timeout)`,
                { op: "read", address: conn.address, timer: "eof" },
              )
              : new NetError(
                "timeout",
                `connection ${conn.id}, message ${echo.currentMessage}: no complete reply within ${
                  formatDuration(replyTimeoutMs)
                } (--timeout; ${echo.replied} replies verified)`,
                { op: "read", address: conn.address, timer: "reply" },
              ),
          );
        } else if (closed.reason === "aborted") {
          fail(conn, closed.error);
        } else {
          const where = closed.connected
            ? `connection ${conn.id}, message ${echo.currentMessage}`
            : `connection ${conn.id}`;
          fail(
            conn,
            s.mismatch || closed.error instanceof VerifyError
              ? closed.error
              : locate(closed.error, where),
          );
        }
        if (closed.reason !== "eof") {
          onEvent?.(conn.id, `closed (${closed.reason})`);
        }
        if (live.size === 0 && result.ok + result.failures.length >= connections) {
          stopDuration?.();
        }
      },
    },
  });

  for (let i = 0; i < connections; i++) {
    const spec: Parameters<typeof mux.dial>[0] = {
      hostname,
      port,
      name: host,
      noDelay: true,
      state: {
        echo: new EchoState(
          options.expect === undefined
            ? { messages: options.messages, count, pipeline, rtt: result.rtt }
            : {
              messages: options.messages,
              expect: options.expect,
              count,
              pipeline,
              rtt: result.rtt,
            },
        ),
        writing: 0,
        draining: false,
        mismatch: null,
      },
    };
    if (options.connectTimeoutMs !== undefined) spec.connectTimeoutMs = options.connectTimeoutMs;
    mux.dial(spec);
  }
  if (options.durationMs !== undefined) {
    stopDuration = mux.after(options.durationMs, () => {
      stopDuration = null;
      timeUp = true;
      // Time is up: no new messages; each connection finishes the replies in flight.
      for (const conn of live) {
        conn.state.echo.stop();
        pump(conn);
      }
    });
  }
  const started = performance.now();
  try {
    await mux.run();
  } catch (err) {
    if (!options.signal?.aborted) throw err;
    result.aborted = options.signal.reason;
  }
  result.elapsedMs = performance.now() - started;
  return result;
}

/**
 * The listening side of `tcpc listen`: bind a TCP listener, and accept one
 * client at a time under a deadline, like `nc -l`.
 *
 * @module
 */

import { NetError } from "../errors.ts";
import { formatDuration } from "../report/duration.ts";
import { joinHostPort } from "./address.ts";
import { toNetError } from "./net_errors.ts";
import { TcpConn } from "./tcp_conn.ts";

/** Options of {@linkcode listenTcp}. */
export interface ListenTcpOptions {
  /** Listen backlog (listen(2)); the kernel caps it at `net.core.somaxconn`. @default {128} */
  backlog?: number;
}

/**
 * Binds a TCP listener on `host:port` (port 0 picks a free one). Failures are
 * a {@linkcode NetError} with op `listen`: an address in use or not on this
 * host is kind `io` (exit 1), a sandbox denial `denied`.
 *
 * @example Listen on a free loopback port
 * ```ts
 * import { listenTcp } from "./listener.ts";
 * const listener = listenTcp("127.0.0.1", 0);
 * console.log((listener.addr as Deno.NetAddr).port);
 * listener.close();
 * ```
 */
export function listenTcp(
  host: string,
  port: number,
  options: ListenTcpOptions = {},
): Deno.TcpListener {
  try {
    return Deno.listen({
      hostname: host,
      port,
      transport: "tcp",
      tcpBacklog: options.backlog ?? 128,
    });
  } catch (err) {
    throw toNetError(err, { op: "listen", address: joinHostPort(host, port) });
  }
}

/** Options of {@linkcode acceptConn}. */
export interface AcceptConnOptions {
  /** Aborting stops the wait: the listener is closed and the reason thrown. @default {undefined} */
  signal?: AbortSignal;
  /** Give up when no client connected within this, ms (timer `connect`). @default {undefined} */
  timeoutMs?: number;
  /** The flag that set `timeoutMs`, for the message. @default {"-w"} */
  flag?: string;
  /** Called for an accept that failed and was skipped (e.g. a client reset first). @default {undefined} */
  onAcceptError?: (error: Error) => void;
}

/** First pause after a failed accept, ms; it doubles up to {@linkcode MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 5;
/**
 * Longest pause between failed accepts, ms: EMFILE leaves the client in the
 * backlog and accept fails again at once, so a loop without a pause would spin.
 */
const MAX_BACKOFF_MS = 1000;

/** Resolves after `ms`, or at once when `signal` aborts; clears its timer either way. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Waits for the next client on `listener` and returns it as a
 * {@linkcode TcpConn}. A failed accept (a client that reset while queued,
 * EMFILE) is reported to `onAcceptError` and skipped, with a growing pause.
 * `accept()` cannot be cancelled, so an abort or the timeout closes the
 * listener; the error thrown is the signal's reason (a timeout of the wait is a
 * {@linkcode NetError} with op `accept` and timer `connect`).
 *
 * @example Accept one client within 5 s
 * ```ts
 * import { acceptConn, listenTcp } from "./listener.ts";
 * const listener = listenTcp("127.0.0.1", 9000);
 * const conn = await acceptConn(listener, { timeoutMs: 5000 });
 * listener.close();
 * console.log(conn.remoteAddress);
 * conn.close();
 * ```
 */
export async function acceptConn(
  listener: Deno.TcpListener,
  options: AcceptConnOptions = {},
): Promise<TcpConn> {
  const addr = listener.addr;
  const address = joinHostPort(addr.hostname, addr.port);
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (options.timeoutMs !== undefined) {
    const ms = options.timeoutMs;
    timer = setTimeout(() => {
      controller.abort(
        new NetError(
          "timeout",
          `no client connected within ${formatDuration(ms)} (${options.flag ?? "-w"})`,
          { op: "accept", address, timer: "connect" },
        ),
      );
    }, ms);
  }
  const signal = options.signal === undefined
    ? controller.signal
    : AbortSignal.any([options.signal, controller.signal]);
  const stop = () => {
    try {
      listener.close();
    } catch { /* already closed */ }
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    let failures = 0;
    while (true) {
      if (signal.aborted) throw reasonOf(signal, address);
      let raw: Deno.TcpConn;
      try {
        raw = await listener.accept();
      } catch (err) {
        if (signal.aborted) throw reasonOf(signal, address);
        if (err instanceof Deno.errors.BadResource) {
          throw new NetError("io", "the listener was closed", { op: "accept", address });
        }
        failures++;
        options.onAcceptError?.(toNetError(err, { op: "accept", address }));
        await pause(Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (failures - 1)), signal);
        continue;
      }
      if (signal.aborted) {
        // The client arrived as the wait ended: it is not ours to serve.
        raw.close();
        throw reasonOf(signal, address);
      }
      return new TcpConn(raw);
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
}

/** The abort reason as the error to throw: a bare DOMException becomes a NetError. */
function reasonOf(signal: AbortSignal, address: string): unknown {
  const reason = signal.reason;
  return reason instanceof DOMException
    ? toNetError(reason, { op: "accept", address, timer: "deadline" })
    : reason;
}

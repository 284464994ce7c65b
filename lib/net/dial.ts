/**
 * The first two dial steps: resolve a host to all its addresses, then connect
 * over TCP, racing the address families (Happy Eyeballs, RFC 8305) under one
 * shared deadline. Shaped after Go's `net.Dialer`. The result is a
 * {@linkcode Conn} whose facts hold the addresses and both phase times; the
 * layers of lib/net/stack.ts stack on it.
 *
 * `Deno.connect` is the fast path; `node:net` is used only where Deno cannot
 * do the job: binding a source address or port (`source`).
 *
 * @module
 */

import { NetError, UsageError } from "../errors.ts";
import { hostKind, joinHostPort } from "./address.ts";
import type { Conn } from "./conn.ts";
import { toNetError } from "./net_errors.ts";
import { abortable } from "./abortable.ts";
import { connectTcp, type ConnectTcpOptions } from "./tcp_connect.ts";

export { connectTcp } from "./tcp_connect.ts";
export type { ConnectTcpOptions, SourceOptions } from "./tcp_connect.ts";

/** Options of {@linkcode dial} and {@linkcode resolve}. */
export interface DialOptions extends ConnectTcpOptions {
  /**
   * Time allowed for resolving and connecting, in ms. Unset: no timeout of our
   * own; the kernel gives up after its SYN retries (tcp(7) `tcp_syn_retries`).
   * @default {undefined}
   */
  connectTimeoutMs?: number;
  /** The flag that set `connectTimeoutMs`, for messages. @default {"--connect-timeout"} */
  timeoutFlag?: string;
  /** Only this address family. @default {undefined} (both) */
  family?: 4 | 6;
  /**
   * How long the first family gets before the other starts (RFC 8305 section 5
   * recommends 250 ms). @default {250}
   */
  fallbackDelayMs?: number;
  /**
   * Called once the host is resolved, before any connect: what a report needs
   * even when every connect then fails. @default {undefined}
   */
  onResolved?: (addresses: string[], resolveMs: number) => void;
}

/**
 * Resolves a host to its addresses with the system resolver (getaddrinfo, so
 * `/etc/hosts` counts). IP literals are returned as they are, at once.
 *
 * @example
 * ```ts
 * import { resolve } from "./dial.ts";
 * console.log(await resolve("localhost", {})); // ["127.0.0.1"]
 * ```
 */
export async function resolve(host: string, options: DialOptions = {}): Promise<string[]> {
  const kind = hostKind(host);
  if (kind !== "name") {
    if (options.family && (kind === "ipv4") !== (options.family === 4)) {
      throw new UsageError(`address "${host}" is not IPv${options.family} (-${options.family})`);
    }
    return [host];
  }
  return await withDeadline(options, "lookup", host, async (signal) => {
    // node:dns loads on the first name only: IP literals never pay for it.
    const { lookup } = await abortable(import("node:dns/promises"), signal);
    const found = await abortable(
      lookup(host, { all: true, family: options.family ?? 0, verbatim: true }),
      signal,
    );
    const addresses = [...new Set(found.map((entry) => entry.address))];
    if (addresses.length === 0) {
      throw Object.assign(new Error("no addresses"), { code: "ENOTFOUND" });
    }
    return addresses;
  });
}

/**
 * Runs `fn` under the connect deadline (earliest of `connectTimeoutMs` and the
 * parent signal) and turns what it throws into one NetError: the parent's
 * reason as it is, our own deadline as a `connect` timeout naming the flag,
 * anything else through the classifier.
 */
async function withDeadline<T>(
  options: DialOptions,
  op: string,
  address: string,
  fn: (signal: AbortSignal) => Promise<T>,
  leftMs: number | undefined = options.connectTimeoutMs,
): Promise<T> {
  const parent = options.signal;
  const timeout = leftMs === undefined ? undefined : AbortSignal.timeout(leftMs);
  const signals = [parent, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 1 ? signals[0]! : AbortSignal.any(signals);
  try {
    return await fn(signal);
  } catch (err) {
    if (parent?.aborted) throw parentReason(parent, op, address);
    if (timeout?.aborted) {
      throw toNetError(timeout.reason, {
        op,
        address,
        timer: "connect",
        timeoutMs: options.connectTimeoutMs ?? 0,
        flag: options.timeoutFlag ?? "--connect-timeout",
      });
    }
    throw toNetError(err, { op, address });
  }
}

/**
 * The parent's reason as it is (Interrupted, a deadline NetError, a caller's
 * own error), except a bare DOMException (`AbortSignal.timeout`), which is
 * classified as a deadline.
 */
function parentReason(parent: AbortSignal, op: string, address: string): unknown {
  const reason = parent.reason;
  if (!(reason instanceof DOMException)) return reason;
  return toNetError(reason, { op, address, timer: "deadline" });
}

/**
 * Go's partial deadline: each remaining address gets an equal share of the time
 * left, but at least 2 s (or all that is left).
 */
function attemptTimeout(remainingMs: number, addressesLeft: number): number {
  const share = remainingMs / addressesLeft;
  const saneMinimum = 2000;
  if (share >= saneMinimum) return share;
  return Math.min(remainingMs, saneMinimum);
}

/** Tries addresses one after another within the shared deadline; first error wins. */
async function dialSerial(
  addresses: string[],
  port: number,
  signal: AbortSignal,
  deadlineAt: number | undefined,
  options: DialOptions,
): Promise<Conn> {
  let firstError: unknown;
  for (const [index, address] of addresses.entries()) {
    signal.throwIfAborted();
    let attempt = signal;
    if (deadlineAt !== undefined && addresses.length > 1) {
      const left = Math.max(1, deadlineAt - performance.now());
      const share = AbortSignal.timeout(attemptTimeout(left, addresses.length - index));
      attempt = AbortSignal.any([signal, share]);
    }
    try {
      return await connectTcp(address, port, { ...options, signal: attempt });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      firstError ??= await classifyConnect(err, joinHostPort(address, port));
    }
  }
  throw firstError;
}

/** Classifies a failed connect; the kernel's own timeout names its SYN retries. */
async function classifyConnect(err: unknown, address: string): Promise<unknown> {
  if (err instanceof Deno.errors.TimedOut) {
    // Loaded only here: the kernel's table is not needed on any other path (start-up).
    const { readConnectLimit } = await import("../kernel/read.ts");
    const limit = await readConnectLimit({});
    return toNetError(err, { op: "connect", address, kernel: limit });
  }
  return toNetError(err, { op: "connect", address });
}

/**
 * Connects to `host:port`. A name is resolved to every address; the first
 * address's family starts, the other family joins after `fallbackDelayMs` or
 * as soon as the first fails, and the loser is aborted and closed. One deadline
 * (`connectTimeoutMs`, earliest with the parent signal) covers resolving and
 * all attempts; it no longer applies once connected. An expired deadline, in
 * the lookup as in the connect, is a timeout {@linkcode NetError} naming the
 * operation, the address and the flag.
 *
 * @example Connect with a 2 s deadline
 * ```ts
 * import { dial } from "./dial.ts";
 * const conn = await dial("127.0.0.1", 6379, { connectTimeoutMs: 2000 });
 * console.log(conn.facts.timings.connectMs);
 * conn.close();
 * ```
 */
export async function dial(host: string, port: number, options: DialOptions = {}): Promise<Conn> {
  const started = performance.now();
  const deadlineAt = options.connectTimeoutMs === undefined
    ? undefined
    : started + options.connectTimeoutMs;
  const literal = hostKind(host) !== "name";
  let addresses = await resolve(host, options);
  const resolved = performance.now();
  const resolveMs = literal ? 0 : resolved - started;
  options.onResolved?.(addresses, resolveMs);
  const sourceAddress = options.source?.address;
  if (sourceAddress !== undefined) {
    // A socket bound to an IPv4 source cannot reach an IPv6 peer, and back.
    const v6 = hostKind(sourceAddress) === "ipv6";
    const usable = addresses.filter((a) => (hostKind(a) === "ipv6") === v6);
    if (usable.length === 0) {
      throw new NetError(
        "unreachable",
        `no address of the same family as source "${sourceAddress}" (resolved ${
          addresses.join(", ")
        })`,
        { op: "connect", address: joinHostPort(host, port) },
      );
    }
    addresses = usable;
  }
  const remaining = deadlineAt === undefined ? undefined : Math.max(1, deadlineAt - resolved);
  const conn = await withDeadline(
    options,
    "connect",
    joinHostPort(host, port),
    (signal) => {
      const isV6 = (a: string) => a.includes(":");
      // resolve() gives at least one address, and the source filter above too.
      const firstV6 = isV6(addresses[0]!);
      const primaries = addresses.filter((a) => isV6(a) === firstV6);
      const fallbacks = addresses.filter((a) => isV6(a) !== firstV6);
      return fallbacks.length === 0
        ? dialSerial(primaries, port, signal, deadlineAt, options)
        : dialParallel(primaries, fallbacks, port, signal, deadlineAt, options);
    },
    remaining,
  );
  conn.facts.addresses = addresses;
  conn.facts.timings.resolveMs = resolveMs;
  conn.facts.timings.connectMs = performance.now() - resolved;
  return conn;
}

/** RFC 8305 race: primaries now, fallbacks after the delay (or on primary failure). */
async function dialParallel(
  primaries: string[],
  fallbacks: string[],
  port: number,
  signal: AbortSignal,
  deadlineAt: number | undefined,
  options: DialOptions,
): Promise<Conn> {
  const primaryCtl = new AbortController();
  const fallbackCtl = new AbortController();
  const primarySignal = AbortSignal.any([signal, primaryCtl.signal]);
  const fallbackSignal = AbortSignal.any([signal, fallbackCtl.signal]);
  let startFallback = () => {};
  const fallbackGate = new Promise<void>((resolve) => startFallback = resolve);
  const timer = setTimeout(startFallback, options.fallbackDelayMs ?? 250);
  const primary = dialSerial(primaries, port, primarySignal, deadlineAt, options);
  primary.catch(() => startFallback());
  const fallback = fallbackGate.then(() =>
    dialSerial(fallbacks, port, fallbackSignal, deadlineAt, options)
  );
  try {
    return await Promise.any([primary, fallback]);
  } catch (err) {
    // Both attempts failed (Promise.any's AggregateError): the primary's error wins.
    throw (err as AggregateError).errors[0];
  } finally {
    clearTimeout(timer);
    // Abort the loser before opening the gate: a fallback that had not started
    // yet must not start now (it would connect to the server only to be closed).
    primaryCtl.abort();
    fallbackCtl.abort();
    startFallback();
    // If the loser connected anyway, close it.
    const winner = await Promise.any([primary, fallback]).catch(() => undefined);
    for (const attempt of [primary, fallback]) {
      attempt.then((conn) => {
        if (conn !== winner) conn.close();
      }, () => {});
    }
  }
}

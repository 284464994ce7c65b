/**
 * Dialing: resolve a host to all its addresses, race the address families
 * (Happy Eyeballs, RFC 8305) under one shared deadline, and classify failures
 * into {@linkcode NetError}s. Shaped after Go's `net.Dialer`.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { Interrupted, NetError } from "../errors.ts";
import { toNetError } from "./net_errors.ts";
import { hostKind, joinHostPort } from "./address.ts";
import { formatDuration } from "../report/duration.ts";
import { readConnectLimit } from "../kernel/read.ts";

/** Options of {@linkcode dial} and {@linkcode resolve}. */
export interface DialOptions {
  /**
   * Time allowed for resolving and connecting, in ms. Unset: no timeout of our
   * own; the kernel gives up after its SYN retries (tcp(7) `tcp_syn_retries`).
   * @default {undefined}
   */
  connectTimeoutMs?: number;
  /** Parent signal (interrupts, the session deadline). @default {undefined} */
  signal?: AbortSignal;
  /** Only this address family. @default {undefined} (both) */
  family?: 4 | 6;
  /**
   * How long the first family gets before the other starts (RFC 8305 section 5
   * recommends 250 ms). @default {250}
   */
  fallbackDelayMs?: number;
  /** Disable Nagle's algorithm on the connection. @default {false} */
  noDelay?: boolean;
  /** Enable TCP keepalive on the connection. @default {false} */
  keepAlive?: boolean;
  /**
   * Called once the host is resolved, before any connect: what a report needs
   * even when every connect then fails. @default {undefined}
   */
  onResolved?: (addresses: string[], resolveMs: number) => void;
}

/** A connection and how it was made. */
export interface DialResult {
  /** The connection; the caller closes it. */
  conn: Deno.TcpConn;
  /** Every address the host resolved to, in the order tried. */
  addresses: string[];
  /** The remote address that answered, `ip:port`. */
  remoteAddress: string;
  /** Our side of the connection, `ip:port`. */
  localAddress: string;
  /** Time spent resolving, ms (0 for an IP literal). */
  resolveMs: number;
  /** Time from the first connect attempt to the connection, ms. */
  connectMs: number;
}

function rejectOnAbort(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, dispose: () => signal.removeEventListener("abort", onAbort) };
}

/**
 * Resolves a host to its addresses with the system resolver (getaddrinfo, so
 * `/etc/hosts` counts). IP literals are returned as they are.
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
      throw new NetError("dns", `address is not IPv${options.family}`, { op: "lookup" });
    }
    return [host];
  }
  const signals = [options.signal];
  if (options.connectTimeoutMs !== undefined) {
    signals.push(AbortSignal.timeout(options.connectTimeoutMs));
  }
  const signal = AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
  signal.throwIfAborted();
  const aborted = rejectOnAbort(signal);
  try {
    const found = await Promise.race([
      lookup(host, { all: true, family: options.family ?? 0, verbatim: true }),
      aborted.promise,
    ]);
    const addresses = [...new Set(found.map((entry) => entry.address))];
    if (addresses.length === 0) throw new Error("no addresses");
    return addresses;
  } catch (err) {
    throw classify(err, { op: "lookup", address: host, signal, options });
  } finally {
    aborted.dispose();
  }
}

interface ClassifyContext {
  op: string;
  address: string;
  signal: AbortSignal;
  options: DialOptions;
  synRetries?: number;
  kernelMs?: number;
}

/** Turns whatever a lookup or connect threw into a NetError (or the parent's reason). */
function classify(err: unknown, ctx: ClassifyContext): unknown {
  if (err instanceof NetError || err instanceof Interrupted) return err;
  const { op, address } = ctx;
  if (ctx.options.signal?.aborted) return ctx.options.signal.reason;
  if (ctx.signal.aborted || (err instanceof DOMException && err.name === "TimeoutError")) {
    const limit = formatDuration(ctx.options.connectTimeoutMs ?? 0);
    return new NetError("timeout", `timed out after ${limit} (--connect-timeout)`, {
      op,
      address,
      timer: "connect",
      cause: err,
    });
  }
  const code = (err as { code?: unknown })?.code;
  if (op === "lookup") {
    if (code === "EPERM" || err instanceof Deno.errors.NotCapable) {
      return new NetError("denied", `denied by the permission sandbox: run with --allow-net`, {
        op,
        address,
        cause: err,
      });
    }
    return new NetError("dns", "name resolution failed (no such host)", {
      op,
      address,
      cause: err,
    });
  }
  if (err instanceof Deno.errors.TimedOut && ctx.synRetries !== undefined) {
    const detail = `the kernel gave up after ${ctx.synRetries} SYN retries (about ${
      formatDuration(ctx.kernelMs ?? 0)
    }, tcp_syn_retries)`;
    return new NetError("timeout", detail, { op, address, timer: "kernel", cause: err });
  }
  return toNetError(err, { op, address });
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

async function connectOne(
  address: string,
  port: number,
  signal: AbortSignal,
): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname: address, port, transport: "tcp", signal });
}

/** Tries addresses one after another within the shared deadline; first error wins. */
async function dialSerial(
  addresses: string[],
  port: number,
  signal: AbortSignal,
  deadlineAt: number | undefined,
  options: DialOptions,
): Promise<Deno.TcpConn> {
  let firstError: unknown;
  for (const [index, address] of addresses.entries()) {
    signal.throwIfAborted();
    const signals = [signal];
    if (deadlineAt !== undefined) {
      const left = Math.max(1, deadlineAt - performance.now());
      signals.push(AbortSignal.timeout(attemptTimeout(left, addresses.length - index)));
    }
    try {
      return await connectOne(address, port, AbortSignal.any(signals));
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      firstError ??= await classifyConnect(err, joinHostPort(address, port), signal, options);
    }
  }
  throw firstError;
}

async function classifyConnect(
  err: unknown,
  address: string,
  signal: AbortSignal,
  options: DialOptions,
): Promise<unknown> {
  const ctx: ClassifyContext = { op: "connect", address, signal, options };
  if (err instanceof Deno.errors.TimedOut) {
    const limit = await readConnectLimit({});
    ctx.synRetries = limit.synRetries;
    ctx.kernelMs = limit.maxConnectMs;
  }
  return classify(err, ctx);
}

/**
 * Connects to `host:port`. A name is resolved to every address; the first
 * address's family starts, the other family joins after `fallbackDelayMs` or
 * as soon as the first fails, and the loser is aborted and closed. One deadline
 * (`connectTimeoutMs`, earliest with the parent signal) covers resolving and
 * all attempts; it no longer applies once connected.
 *
 * @example Connect with a 2 s deadline
 * ```ts
 * import { dial } from "./dial.ts";
 * const { conn, connectMs } = await dial("127.0.0.1", 6379, { connectTimeoutMs: 2000 });
 * console.log(connectMs);
 * conn.close();
 * ```
 */
export async function dial(host: string, port: number, options: DialOptions = {}): Promise<
  DialResult
> {
  const started = performance.now();
  const deadlineAt = options.connectTimeoutMs === undefined
    ? undefined
    : started + options.connectTimeoutMs;
  const signals = [options.signal];
  if (options.connectTimeoutMs !== undefined) {
    signals.push(AbortSignal.timeout(options.connectTimeoutMs));
  }
  const signal = AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
  const addresses = await resolve(host, { ...options, signal });
  const resolved = performance.now();
  options.onResolved?.(addresses, resolved - started);
  const isV6 = (a: string) => a.includes(":");
  const firstV6 = isV6(addresses[0] ?? "");
  const primaries = addresses.filter((a) => isV6(a) === firstV6);
  const fallbacks = addresses.filter((a) => isV6(a) !== firstV6);
  let conn: Deno.TcpConn;
  try {
    conn = fallbacks.length === 0
      ? await dialSerial(primaries, port, signal, deadlineAt, options)
      : await dialParallel(primaries, fallbacks, port, signal, deadlineAt, options);
  } catch (err) {
    if (signal.aborted) {
      throw classify(err, { op: "connect", address: joinHostPort(host, port), signal, options });
    }
    throw err;
  }
  if (options.noDelay) conn.setNoDelay(true);
  if (options.keepAlive) conn.setKeepAlive(true);
  const remote = conn.remoteAddr;
  const local = conn.localAddr;
  return {
    conn,
    addresses,
    remoteAddress: joinHostPort(remote.hostname, remote.port),
    localAddress: joinHostPort(local.hostname, local.port),
    resolveMs: resolved - started,
    connectMs: performance.now() - resolved,
  };
}

/** RFC 8305 race: primaries now, fallbacks after the delay (or on primary failure). */
async function dialParallel(
  primaries: string[],
  fallbacks: string[],
  port: number,
  signal: AbortSignal,
  deadlineAt: number | undefined,
  options: DialOptions,
): Promise<Deno.TcpConn> {
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
    const errors = (err as AggregateError).errors ?? [];
    throw errors[0] ?? err;
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

/**
 * The built-in server of `tcpc serve`: echo, discard or chargen (RFC 862, 863,
 * 864), a peer for the demo, the tests and users who need one.
 *
 * @module
 */

import { log } from "../log.ts";
import { joinHostPort } from "./address.ts";

/** What the server does with each connection. */
export type ServeMode = "echo" | "discard" | "chargen";

/** Options of {@linkcode serve}. */
export interface ServeOptions {
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** echo (RFC 862), discard (RFC 863) or chargen (RFC 864). @default {"echo"} */
  mode?: ServeMode;
  /** Aborting stops listening and closes every connection. */
  signal?: AbortSignal;
  /** Called once listening, with the bound address (port 0 picks one). @default {undefined} */
  onListen?: (address: Deno.NetAddr) => void;
  /** Listen backlog. @default {511} */
  backlog?: number;
}

/** Counters of a finished server run. */
export interface ServeResult {
  /** Connections accepted. */
  accepted: number;
  /** Accepts that failed (e.g. a client reset before accept) and were skipped. */
  acceptErrors: number;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

const CHARGEN_LINE = 72;
const CHARGEN_PRINTABLE = Array.from({ length: 95 }, (_, i) => 32 + i);

function chargenBlock(): Uint8Array {
  // RFC 864: 72-character lines, each starting one character later in the ring.
  const lines = CHARGEN_PRINTABLE.length;
  const block = new Uint8Array(lines * (CHARGEN_LINE + 2));
  let j = 0;
  for (let line = 0; line < lines; line++) {
    for (let i = 0; i < CHARGEN_LINE; i++) {
      block[j++] = CHARGEN_PRINTABLE[(line + i) % lines]!;
    }
    block[j++] = 0x0d;
    block[j++] = 0x0a;
  }
  return block;
}

async function handle(conn: Deno.Conn, mode: ServeMode): Promise<void> {
  const buffer = new Uint8Array(256 * 1024);
  if (mode === "chargen") {
    const block = chargenBlock();
    // Until the client goes away (write fails) or closes its side.
    const closedByPeer = (async () => {
      while ((await conn.read(buffer)) !== null) { /* discard */ }
    })();
    let done = false;
    closedByPeer.then(() => done = true, () => done = true);
    while (!done) await writeAll(conn, block);
    return;
  }
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) break;
    if (mode === "echo") await writeAll(conn, buffer.subarray(0, n));
  }
  // Echo everything, then close after the client's half-close.
  await conn.closeWrite();
}

/** First pause after a failed accept; it doubles on each failure in a row. */
const ACCEPT_BACKOFF_MIN_MS = 5;
/** Longest pause between failed accepts. */
const ACCEPT_BACKOFF_MAX_MS = 1000;

/** Out of file descriptors: the accept will fail again until a connection closes. */
function isFdExhaustion(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "EMFILE" || code === "ENFILE" ||
    /too many open files/i.test(err instanceof Error ? err.message : String(err));
}

/** The failures a connection ends with when its peer goes away or we stop: not bugs. */
function isPeerGone(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.NotConnected ||
    err instanceof Deno.errors.TimedOut ||
    err instanceof Deno.errors.UnexpectedEof ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.BadResource;
}

/** Waits `ms`, or less if `signal` aborts (it never rejects). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Listens on `port` and serves every connection until the signal aborts. A
 * failed accept is counted and skipped: a client that reset before accept at
 * once; out of file descriptors (EMFILE) after a pause of 5 ms doubling to
 * 1 s while it goes on, as Go's `net/http` Server does. Without the pause the
 * loop spins at full CPU (the pending connection stays queued, so every
 * accept fails at once). EMFILE is logged once per run of failures.
 *
 * @example An echo server on a free loopback port for 1 s
 * ```ts
 * import { serve } from "./server.ts";
 * await serve(0, {
 *   signal: AbortSignal.timeout(1000),
 *   onListen: (addr) => console.log(addr.port),
 * });
 * ```
 */
export async function serve(port: number, options: ServeOptions = {}): Promise<ServeResult> {
  const logger = log("serve");
  const mode = options.mode ?? "echo";
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port,
    transport: "tcp",
    tcpBacklog: options.backlog ?? 511,
  });
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const stop = () => {
    try {
      listener.close();
    } catch { /* closed */ }
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  options.onListen?.(listener.addr);
  const result: ServeResult = { accepted: 0, acceptErrors: 0 };
  let backoffMs = 0;
  let fdWarned = false;
  try {
    while (!options.signal?.aborted) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource || options.signal?.aborted) break;
        result.acceptErrors++;
        if (!isFdExhaustion(err)) {
          // A client that reset before accept: the next accept is for someone else.
          logger.info(`accept failed, going on: ${err instanceof Error ? err.message : err}`);
          continue;
        }
        backoffMs = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, backoffMs * 2));
        if (!fdWarned) {
          fdWarned = true;
          logger.warn(
            `accept: out of file descriptors (${conns.size} connections open; raise ulimit -n): retrying every ${ACCEPT_BACKOFF_MIN_MS} ms to ${ACCEPT_BACKOFF_MAX_MS} ms`,
          );
        }
        await pause(backoffMs, options.signal);
        continue;
      }
      if (fdWarned) {
        logger.info(`accept: file descriptors available again (${conns.size} connections open)`);
      }
      backoffMs = 0;
      fdWarned = false;
      result.accepted++;
      conns.add(conn);
      const peer = conn.remoteAddr as Deno.NetAddr;
      logger.info(`accepted ${joinHostPort(peer.hostname, peer.port)}`);
      const name = joinHostPort(peer.hostname, peer.port);
      const done: Promise<void> = handle(conn, mode).catch((err) => {
        // A peer that resets or leaves is normal; anything else is a bug to see.
        if (isPeerGone(err) || options.signal?.aborted) {
          logger.debug(`connection ${name} ended: ${err instanceof Error ? err.message : err}`);
        } else {
          logger.error(
            `connection ${name} failed (a bug in the server): ${
              err instanceof Error ? `${err.name}: ${err.message}` : String(err)
            }`,
          );
        }
      }).finally(() => {
        conns.delete(conn);
        handlers.delete(done);
        try {
          conn.close();
        } catch { /* closed */ }
      });
      handlers.add(done);
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    stop();
    await Promise.all(handlers);
  }
  return result;
}

/**
 * Real peers for tests: the built-in server in-process, socat and redis-server
 * as subprocesses, and a listener whose backlog is full (connects hang).
 * Every peer listens on loopback only and is stopped by `stop()` /
 * `await using`.
 *
 * @module
 */

import { serve, type ServeMode } from "../../lib/net/server.ts";
import { killAfter } from "./cli.ts";

/** A running peer. */
export interface Peer extends AsyncDisposable {
  /** Its loopback port. */
  port: number;
  /** Stops it and waits until it is gone. */
  stop(): Promise<void>;
}

/** Starts the built-in server (in this process) on a free loopback port. */
export async function startBuiltin(mode: ServeMode = "echo"): Promise<Peer> {
  const controller = new AbortController();
  let port = 0;
  const running = serve(0, { mode, signal: controller.signal, onListen: (a) => port = a.port });
  await Promise.resolve();
  const stop = async () => {
    controller.abort();
    await running;
  };
  return { port, stop, [Symbol.asyncDispose]: stop };
}

/** A free loopback port (bound then released; fine for tests that start a peer at once). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Waits until something accepts on 127.0.0.1:port (bounded: 10 s). */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Options of {@linkcode stopChild}. */
export interface StopChildOptions {
  /** The polite signal. @default {"SIGTERM"} */
  signal?: Deno.Signal;
  /** How long to wait for it before SIGKILL. @default {5000} */
  graceMs?: number;
}

/**
 * Sends `signal`, waits up to `graceMs`, then sends SIGKILL: a stop that always
 * ends. (Measured: tinyproxy catches SIGTERM inside poll(), the poll restarts,
 * and it exits only at its next connection; under load this hung a test.)
 */
export async function stopChild(
  child: Deno.ChildProcess,
  options: StopChildOptions = {},
): Promise<Deno.CommandStatus> {
  try {
    child.kill(options.signal ?? "SIGTERM");
  } catch { /* gone */ }
  killAfter(child, options.graceMs ?? 5_000);
  return await child.status;
}

/** Starts a program that listens on a port we chose, waits for it, and returns a Peer. */
export async function startProcess(
  command: string,
  args: (port: number) => string[],
): Promise<Peer> {
  const port = freePort();
  const child = new Deno.Command(command, {
    args: args(port),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    await stopChild(child);
  };
  try {
    await waitForPort(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop, [Symbol.asyncDispose]: stop };
}

/**
 * socat listening on loopback with `fork`, running `target` for each
 * connection (e.g. `PIPE` for echo, `EXEC:sort`, `SYSTEM:...`).
 */
export function startSocat(target: string): Promise<Peer> {
  // -b 4096: with its default 8 KiB blocks, socat's PIPE echo can block forever
  // writing into its own pipe under a large transfer.
  return startProcess("socat", (port) => [
    "-b",
    "4096",
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
    target,
  ]);
}

/** redis-server on loopback, no persistence. */
export function startRedis(): Promise<Peer> {
  return startProcess("redis-server", (port) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
}

/**
 * A listener with backlog 1 that never accepts: after the first connects fill
 * the queue, later connects hang (no SYN-ACK) until the client's deadline.
 * `fill()` makes the queue full so that the next connect hangs.
 */
export function startHanging(): Promise<Peer & { fill(): Promise<void> }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const port = (listener.addr as Deno.NetAddr).port;
  const fillers: Deno.Conn[] = [];
  const fill = async () => {
    // Connects that complete into the backlog; stop at the first that hangs.
    for (let i = 0; i < 8; i++) {
      try {
        fillers.push(
          await Deno.connect({ hostname: "127.0.0.1", port, signal: AbortSignal.timeout(300) }),
        );
      } catch {
        return;
      }
    }
  };
  const stop = () => {
    for (const conn of fillers) conn.close();
    listener.close();
    return Promise.resolve();
  };
  return Promise.resolve({ port, fill, stop, [Symbol.asyncDispose]: stop });
}

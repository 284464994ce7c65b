/**
 * Worker thread of `tcpc probe` for large runs: its own event loop, so its
 * own budget of connects in flight (lib/net/mux.ts, MAX_CONNECTS_IN_FLIGHT)
 * and its own core for the connect syscalls. It probes the chunks of targets
 * the main thread posts, and posts back each chunk's output lines, in target
 * order, once the whole chunk is done. The main thread puts chunks in order
 * (lib/cli/probe.ts).
 *
 * Protocol (all structured-clone messages):
 * - in `init` ({@linkcode ProbeWorkerInit}), then `chunk`s ({@linkcode ProbeWorkerChunk});
 * - out `done` per chunk ({@linkcode ProbeWorkerDone}), `fd-limit` when EMFILE
 *   lowered the concurrency, `failed` when the loop itself failed.
 *
 * @module
 */

import { errorKind } from "../errors.ts";
import { formatProbeRow, type ProbeRecord, type ProbeState } from "../report/probe_table.ts";
import { ProbeShard, type ShardTarget } from "./probe_shard.ts";

/** The first message: what every chunk is probed with. */
export interface ProbeWorkerInit {
  /** Message type. */
  type: "init";
  /** Connect timeout, ms. Workers run connect-only probes: dialogs stay on the main thread. */
  timeoutMs: number;
  /** Targets in progress at once in this worker. */
  maxOpen: number;
  /** JSON Lines, else table rows. */
  json: boolean;
  /** Width of the table's target column. */
  width: number;
  /** The run's hosts: as given, resolved IP, resolution time (ms). */
  hosts: { host: string; ip: string; resolveMs: number }[];
}

/** A run of consecutive targets: `ports[i]` on `hosts[hostIds[i]]` is target `start + i`. */
export interface ProbeWorkerChunk {
  /** Message type. */
  type: "chunk";
  /** Chunk number (the main thread's order). */
  seq: number;
  /** Index of the first target. */
  start: number;
  /** Index into `init.hosts`, per target. */
  hostIds: Uint32Array;
  /** Port, per target. */
  ports: Uint16Array;
}

/** One chunk finished. */
export interface ProbeWorkerDone {
  /** Message type. */
  type: "done";
  /** The chunk's number. */
  seq: number;
  /** Its output lines, in target order, joined with "\n". */
  text: string;
  /** How many targets ended in each state. */
  counts: Partial<Record<ProbeState, number>>;
  /** Address of a target the permission sandbox refused, or null. */
  denied: string | null;
}

/** The part of a worker's global scope the protocol uses. */
export interface ProbeWorkerScope {
  /** Sends a message to the main thread. */
  postMessage(message: unknown): void;
  /** Receives the main thread's messages. */
  onmessage: ((event: MessageEvent) => void) | null;
}

interface ChunkState {
  seq: number;
  start: number;
  lines: string[];
  left: number;
  counts: Partial<Record<ProbeState, number>>;
  denied: string | null;
}

/**
 * Runs the worker's side of the protocol on `scope` (the worker's global
 * scope). Called once, at the bottom of this module, when it runs as a worker.
 *
 * @example
 * ```ts
 * // In a module loaded with new Worker(url, { type: "module" }):
 * import { type ProbeWorkerScope, serveProbeWorker } from "./probe_worker.ts";
 * serveProbeWorker(self as unknown as ProbeWorkerScope);
 * ```
 */
export function serveProbeWorker(scope: ProbeWorkerScope): void {
  let init: ProbeWorkerInit | null = null;
  let shard: ProbeShard | null = null;
  let running = false;
  const chunks: ProbeWorkerChunk[] = [];
  let current: ProbeWorkerChunk | null = null;
  let offset = 0;
  const active: ChunkState[] = [];

  const next = (): ShardTarget | undefined => {
    while (current === null || offset >= current.ports.length) {
      current = chunks.shift() ?? null;
      offset = 0;
      if (current === null) return undefined;
      active.push({
        seq: current.seq,
        start: current.start,
        lines: new Array(current.ports.length),
        left: current.ports.length,
        counts: {},
        denied: null,
      });
    }
    const i = offset++;
    const host = init!.hosts[current.hostIds[i]!]!;
    return {
      index: current.start + i,
      host: host.host,
      port: current.ports[i]!,
      ip: host.ip,
      resolveMs: host.resolveMs,
    };
  };

  const onRecord = (index: number, record: ProbeRecord, failure: unknown) => {
    const chunk = active.find((c) => index >= c.start && index < c.start + c.lines.length)!;
    chunk.lines[index - chunk.start] = init!.json
      ? JSON.stringify(record)
      : formatProbeRow(record, init!.width);
    chunk.counts[record.state] = (chunk.counts[record.state] ?? 0) + 1;
    if (failure !== null && errorKind(failure) === "denied") chunk.denied ??= record.address;
    if (--chunk.left > 0) return;
    active.splice(active.indexOf(chunk), 1);
    const done: ProbeWorkerDone = {
      type: "done",
      seq: chunk.seq,
      text: chunk.lines.join("\n"),
      counts: chunk.counts,
      denied: chunk.denied,
    };
    scope.postMessage(done);
  };

  const run = async () => {
    if (running || shard === null) return;
    running = true;
    try {
      await shard.run();
    } catch (err) {
      scope.postMessage({
        type: "failed",
        message: err instanceof Error ? err.message : String(err),
      });
      return;
    } finally {
      running = false;
    }
    // Chunks that came while the loop was finishing.
    if (chunks.length > 0) void run();
  };

  scope.onmessage = (event: MessageEvent) => {
    const message = event.data as ProbeWorkerInit | ProbeWorkerChunk;
    if (message.type === "init") {
      init = message;
      shard = new ProbeShard({
        timeoutMs: message.timeoutMs,
        maxOpen: message.maxOpen,
        next,
        onRecord,
        onFdLimit: (cap) => scope.postMessage({ type: "fd-limit", cap }),
        // The other workers share this process's descriptors and free them.
        sharedFds: true,
      });
      return;
    }
    chunks.push(message);
    if (running) shard?.feed();
    else void run();
  };
}

// Only in a worker thread (`WorkerGlobalScope` exists there, not in the main thread).
if ("WorkerGlobalScope" in globalThis) {
  serveProbeWorker(globalThis as unknown as ProbeWorkerScope);
}

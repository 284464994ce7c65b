/**
 * The floor of figure 3: the fastest connect sweep plain Deno allows, with the
 * same concurrency as `tcpc probe` (the same number of threads, 128 connects
 * in flight per thread). Each thread runs `--inflight` lanes; a lane takes
 * the next port, awaits `Deno.connect`, closes the socket if it opened, and
 * counts a refused connect. No records, no deadlines, no error objects of our
 * own: only what every connect sweep in Deno has to pay.
 *
 * Only ever run it inside a private network namespace (bench/sweep.ts does:
 * `unshare -n`, lo up, one listener).
 *
 * `deno run -A bench/sweep_floor.ts [--workers N] [--inflight K] [--signal]
 * [--stack-limit N] HOST LO-HI`. `--workers 0` runs on the main thread only;
 * `--signal` gives each connect an AbortController's signal as tcpc does (to
 * measure what that costs); `--stack-limit` sets `Error.stackTraceLimit`.
 * Prints `open PORT` per open port, then a summary line on stderr.
 *
 * @module
 */

import { parseArgs } from "node:util";

interface FloorJob {
  host: string;
  lo: number;
  hi: number;
  inflight: number;
  signal: boolean;
  stackLimit: number | null;
}

interface FloorResult {
  open: number[];
  refused: number;
  other: number;
}

/** One thread's sweep of `lo..hi` with `inflight` lanes. */
async function sweep(job: FloorJob): Promise<FloorResult> {
  if (job.stackLimit !== null) Error.stackTraceLimit = job.stackLimit;
  const result: FloorResult = { open: [], refused: 0, other: 0 };
  let next = job.lo;
  const hostname = job.host;
  const lane = async () => {
    while (next <= job.hi) {
      const port = next++;
      try {
        const conn = await Deno.connect(
          job.signal
            ? { hostname, port, signal: new AbortController().signal }
            : { hostname, port },
        );
        // A self-connect (the kernel picked this port as the source port, TCP
        // simultaneous open) is not an open port: every sweep must check it.
        if ((conn.localAddr as Deno.NetAddr).port !== port) result.open.push(port);
        else result.refused++;
        conn.close();
      } catch (err) {
        if (err instanceof Deno.errors.ConnectionRefused) result.refused++;
        else result.other++;
      }
    }
  };
  await Promise.all(Array.from({ length: job.inflight }, lane));
  return result;
}

/** A worker thread: one job in, one result out. */
function serveWorker(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<FloorJob>) => void) | null;
    postMessage(message: FloorResult): void;
  };
  scope.onmessage = async (event) => scope.postMessage(await sweep(event.data));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      workers: { type: "string", default: "2" },
      inflight: { type: "string", default: "128" },
      signal: { type: "boolean", default: false },
      "stack-limit": { type: "string" },
    },
  });
  const [host, range] = positionals;
  const [lo, hi] = String(range ?? "").split("-").map(Number);
  if (host === undefined || !lo || !hi || lo > hi || hi > 65535) {
    throw new Error("usage: sweep_floor.ts [--workers N] [--inflight K] HOST LO-HI");
  }
  const workers = Number(values.workers);
  const job = {
    host,
    inflight: Number(values.inflight),
    signal: values.signal,
    stackLimit: values["stack-limit"] === undefined ? null : Number(values["stack-limit"]),
  };
  const started = performance.now();
  let results: FloorResult[];
  if (workers <= 0) results = [await sweep({ ...job, lo, hi })];
  else {
    // Contiguous equal shares: refused connects cost the same on every port.
    const share = Math.ceil((hi - lo + 1) / workers);
    results = await Promise.all(Array.from({ length: workers }, (_, w) => {
      const worker = new Worker(import.meta.url, { type: "module" });
      return new Promise<FloorResult>((resolve, reject) => {
        worker.onmessage = (event: MessageEvent<FloorResult>) => {
          worker.terminate();
          resolve(event.data);
        };
        worker.onerror = (event) => {
          event.preventDefault();
          worker.terminate();
          reject(event.error ?? new Error(event.message));
        };
        worker.postMessage({
          ...job,
          lo: lo + w * share,
          hi: Math.min(hi, lo + (w + 1) * share - 1),
        });
      });
    }));
  }
  const ms = performance.now() - started;
  const open = results.flatMap((r) => r.open).sort((a, b) => a - b);
  const lines = open.map((port) => `open ${port}`).join("\n");
  if (lines !== "") await Deno.stdout.write(new TextEncoder().encode(lines + "\n"));
  const refused = results.reduce((n, r) => n + r.refused, 0);
  const other = results.reduce((n, r) => n + r.other, 0);
  await Deno.stderr.write(
    new TextEncoder().encode(
      `floor: ${hi - lo + 1} ports, ${open.length} open, ${refused} refused, ${other} other, ${
        Math.round(ms)
      } ms\n`,
    ),
  );
}

if ("WorkerGlobalScope" in globalThis) serveWorker();
else if (import.meta.main) await main();

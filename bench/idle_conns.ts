/**
 * Figure 5: 10,000 concurrent idle connections held by one process: time to
 * open them all and the holder's peak RSS (VmHWM from /proc/PID/status).
 *
 * `tcpc probe` has no option to keep its connections open, so the holder is
 * this file run as a child (`deno run -P bench/idle_conns.ts --hold N PORT`,
 * tcpc's own permission set) dialling with `dial()` from lib/net/dial.ts, the
 * code every tcpc command dials with, 256 connects in flight. It measures the
 * runtime's and the dial code's cost per connection, not a tcpc command's.
 * The listener is in the harness process, which accepts and keeps every
 * connection until the holder has reported.
 *
 * Standalone: `deno run -P=bench bench/idle_conns.ts [--quick] [--conns N] [--reps N]`.
 *
 * @module
 */

import { dial } from "../lib/net/dial.ts";
import type { Conn } from "../lib/net/conn.ts";
import {
  type BenchOptions,
  cleanStderr,
  type Figure,
  makeRow,
  printLine,
  REPO,
  say,
  shell,
} from "./common.ts";

const IN_FLIGHT = 256;

/** Child mode: open `count` connections, report, hold them until stdin closes. */
async function hold(count: number, port: number): Promise<void> {
  const conns: Conn[] = [];
  const started = performance.now();
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        const conn = await dial("127.0.0.1", port, { connectTimeoutMs: 10_000 });
        conns.push(conn);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, count) }, worker));
  const openMs = performance.now() - started;
  printLine(JSON.stringify({ open: conns.length, failed, openMs }));
  // Hold until the harness closes our stdin (it reads our VmHWM first).
  const buffer = new Uint8Array(16);
  while ((await Deno.stdin.read(buffer)) !== null) { /* wait */ }
  for (const conn of conns) conn.close();
}

interface Sample {
  openMs: number;
  rssMB: number;
}

async function oneRun(count: number): Promise<Sample> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 4096 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    while (true) {
      try {
        accepted.push(await listener.accept());
      } catch (err) {
        if (err instanceof Deno.errors.BadResource) return;
      }
    }
  })();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-P",
      `${REPO}bench/idle_conns.ts`,
      "--hold",
      String(count),
      String((listener.addr as Deno.NetAddr).port),
    ],
    cwd: REPO,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, 120_000);
  const writer = child.stdin.getWriter();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    reader.releaseLock();
    const report = JSON.parse(text.split("\n")[0] || "{}") as {
      open?: number;
      failed?: number;
      openMs?: number;
    };
    if (report.open !== count) {
      throw new Error(
        `the holder opened ${report.open ?? 0} of ${count} (failed ${report.failed})`,
      );
    }
    const status = await shell(`grep VmHWM /proc/${child.pid}/status`, { timeoutMs: 10_000 });
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status.stdout)?.[1] ?? NaN);
    return { openMs: report.openMs!, rssMB: (kb * 1024) / 1e6 };
  } finally {
    try {
      await writer.close();
    } catch { /* gone */ }
    const out = await child.output().catch(() => null);
    clearTimeout(killer);
    if (out !== null && out.code !== 0) {
      say(`holder: ${cleanStderr(new TextDecoder().decode(out.stderr))}`);
    }
    listener.close();
    await accepting;
    for (const conn of accepted) conn.close();
  }
}

/** Runs figure 5 and returns it. */
export async function runIdleConns(
  options: BenchOptions & { conns?: number } = {},
): Promise<Figure> {
  const count = options.conns ?? (options.quick ? 2000 : 10_000);
  const reps = options.reps ?? (options.quick ? 2 : 3);
  const notes = [
    `${count} connections, ${IN_FLIGHT} connects in flight, ${reps} runs; holder: ` +
    "bench/idle_conns.ts with lib/net/dial.ts dial() (tcpc probe cannot hold connections yet)",
  ];
  const open: number[] = [];
  const rss: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    try {
      const sample = await oneRun(count);
      open.push(sample.openMs);
      rss.push(sample.rssMB);
      say(
        `fig 5 ${rep + 1}/${reps}: opened ${count} in ${sample.openMs.toFixed(0)} ms, ` +
          `peak RSS ${sample.rssMB.toFixed(1)} MB`,
      );
    } catch (err) {
      notes.push(`run ${rep + 1}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // The goal is for 10,000 connections; smaller runs only show the trend.
  const full = count >= 10_000;
  return {
    figure: "5",
    title: `${count.toLocaleString("en")} concurrent idle connections in one process`,
    rows: [
      makeRow({
        figure: "5",
        case: "peak RSS",
        peer: full ? "target < 150 MB" : "(target is for 10,000)",
        unit: "MB",
        higherIsBetter: false,
        tcpc: rss,
        peerSamples: full ? [150] : [],
        target: full ? 1.0 : null,
      }),
      makeRow({
        figure: "5",
        case: "time to open all",
        peer: "(no peer)",
        unit: "ms",
        higherIsBetter: false,
        tcpc: open,
        peerSamples: [],
      }),
    ],
    notes,
  };
}

function flagValue(name: string): number | undefined {
  const at = Deno.args.indexOf(`--${name}`);
  const value = at === -1 ? NaN : Number(Deno.args[at + 1]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--hold");
  if (at !== -1) {
    await hold(Number(Deno.args[at + 1]), Number(Deno.args[at + 2]));
  } else {
    const options: BenchOptions & { conns?: number } = { quick: Deno.args.includes("--quick") };
    const conns = flagValue("conns");
    const reps = flagValue("reps");
    if (conns !== undefined) options.conns = conns;
    if (reps !== undefined) options.reps = reps;
    printLine(JSON.stringify({ figures: [await runIdleConns(options)] }));
  }
}

/**
 * Figure 7: the ceiling. `iperf3` moves bytes between two of its own
 * processes over loopback with no stdin or stdout in the way; tcpc's best
 * transfer numbers from figures 1 and 2 are shown as a share of it.
 *
 * Standalone: `deno run -P=bench bench/iperf.ts [--quick] [--size MiB] [--reps N]`
 * (prints iperf3's numbers only).
 *
 * @module
 */

import {
  type BenchOptions,
  cleanStderr,
  type Figure,
  findPeers,
  makeRow,
  printLine,
  say,
  shell,
} from "./common.ts";
import { stopChild } from "../tests/peers/servers.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Measures iperf3 single-stream loopback throughput, GB/s per repetition. */
export async function measureIperf(options: BenchOptions = {}): Promise<{
  samples: number[];
  notes: string[];
}> {
  const mib = options.sizeMiB ?? (options.quick ? 128 : 1024);
  const reps = options.reps ?? 3;
  const notes = [`iperf3 -c 127.0.0.1 -n ${mib}M, single stream, ${reps} runs`];
  if (!(await findPeers()).iperf3) {
    return { samples: [], notes: ["skipped: iperf3 is not installed (apt-get install -y iperf3)"] };
  }
  const port = freePort();
  const server = new Deno.Command("iperf3", {
    args: ["-s", "-B", "127.0.0.1", "-p", String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const samples: number[] = [];
  try {
    for (let rep = 0; rep < reps; rep++) {
      // The client fails fast while the server is not up yet: retry a few times.
      let result = null;
      for (let attempt = 0; attempt < 20; attempt++) {
        result = await shell(`iperf3 -c 127.0.0.1 -p ${port} -n ${mib}M -J`, { timeoutMs: 60_000 });
        if (result.code === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (result === null || result.code !== 0) {
        notes.push(`run ${rep + 1}: iperf3 failed: ${cleanStderr(result?.stderr ?? "")}`);
        continue;
      }
      const report = JSON.parse(result.stdout) as {
        end?: { sum_received?: { bits_per_second?: number } };
      };
      const bps = report.end?.sum_received?.bits_per_second;
      if (bps === undefined) notes.push(`run ${rep + 1}: no sum_received in iperf3's JSON`);
      else samples.push(bps / 8 / 1e9);
    }
  } finally {
    await stopChild(server);
  }
  say(`fig 7: iperf3 ${samples.map((s) => s.toFixed(2)).join(", ")} GB/s`);
  return { samples, notes };
}

/**
 * Builds figure 7 from iperf3's samples and tcpc's transfer samples
 * (figure 1 send and figure 2 receive to /dev/null), when those ran.
 */
export function ceilingFigure(
  iperf: { samples: number[]; notes: string[] },
  tcpc: { send: number[]; receive: number[] },
): Figure {
  const row = (caseName: string, samples: number[]) =>
    makeRow({
      figure: "7",
      case: caseName,
      peer: "iperf3 (ceiling)",
      unit: "GB/s",
      higherIsBetter: true,
      tcpc: samples,
      peerSamples: iperf.samples,
      note: "tcpc samples are figure 1/2's; ratio = share of the ceiling",
    });
  return {
    figure: "7",
    title: "The ceiling: iperf3 single stream on loopback",
    rows: [
      row("tcpc send (fig 1) vs ceiling", tcpc.send),
      row("tcpc receive > /dev/null (fig 2) vs ceiling", tcpc.receive),
    ],
    notes: iperf.notes,
  };
}

if (import.meta.main) {
  const options: BenchOptions = { quick: Deno.args.includes("--quick") };
  for (const [flag, key] of [["--size", "sizeMiB"], ["--reps", "reps"]] as const) {
    const at = Deno.args.indexOf(flag);
    if (at !== -1) options[key] = Number(Deno.args[at + 1]);
  }
  printLine(
    JSON.stringify({
      figures: [ceilingFigure(await measureIperf(options), { send: [], receive: [] })],
    }),
  );
}

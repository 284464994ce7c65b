/**
 * Figure 6: per-invocation cost. `tcpc --version` and `tcpc -z` (to a
 * listener in this process that accepts and closes) against `deno run -P` of
 * an empty module (bench/empty.ts, same config and permission flags): the
 * runtime's own start-up. Goals (issue 16): `--version` within 1.15x of the
 * empty module, `-z` within 1.25x. `nc -z` is shown for scale. Wall time on a
 * shared 2-core machine swings by 30-60%, so each tcpc case and the empty
 * module are also run under bash's `time` for their CPU time (user + system,
 * ms resolution): informational rows without a goal, steadier than the wall.
 *
 * Standalone: `deno run -P=bench bench/startup.ts [--quick] [--reps N]`.
 *
 * @module
 */

import {
  type BenchOptions,
  cleanStderr,
  type Figure,
  findPeers,
  makeRow,
  median,
  printLine,
  REPO,
  rotate,
  say,
  shell,
  TCPC,
} from "./common.ts";

/** Runs figure 6 and returns it. */
export async function runStartup(options: BenchOptions = {}): Promise<Figure> {
  const reps = options.reps ?? (options.quick ? 7 : 21);
  const notes = [`${reps} invocations each, alternating; wall time from spawn to exit`];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepting = (async () => {
    while (true) {
      try {
        (await listener.accept()).close();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource) return;
      }
    }
  })();
  const found = await findPeers();
  const clients: [string, string][] = [
    ["tcpc -z", `${TCPC} -z 127.0.0.1 ${port}`],
    ["tcpc --version", `${TCPC} --version`],
    ["empty module", `"${Deno.execPath()}" run -P "${REPO}bench/empty.ts"`],
  ];
  if (found.nc) clients.push(["nc -z", `nc -z 127.0.0.1 ${port}`]);
  else notes.push("skipped nc -z: netcat-openbsd is not installed");
  const samples = new Map<string, number[]>(clients.map(([name]) => [name, []]));
  // CPU time of the Deno cases (nc's is ~1 ms and says nothing here).
  const cpuClients = clients.filter(([name]) => name !== "nc -z");
  const cpu = new Map<string, number[]>(cpuClients.map(([name]) => [name, []]));
  try {
    await shell(`${TCPC} --version`); // warm Deno's module cache
    for (let rep = 0; rep < reps; rep++) {
      for (const [name, command] of rotate(clients, rep)) {
        const result = await shell(command, { timeoutMs: 30_000 });
        if (result.code !== 0) {
          notes.push(`${name}: exit ${result.code}: ${cleanStderr(result.stderr)}`);
          continue;
        }
        samples.get(name)!.push(result.ms);
      }
      for (const [name, command] of rotate(cpuClients, rep)) {
        const ms = await cpuMs(command);
        if (ms !== null) cpu.get(name)!.push(ms);
      }
    }
  } finally {
    listener.close();
    await accepting;
  }
  say(
    `fig 6: ${[...samples].map(([n, v]) => `${n} ${median(v)?.toFixed(1)} ms`).join(", ")}; CPU ${
      [...cpu].map(([n, v]) => `${n} ${median(v)?.toFixed(1)} ms`).join(", ")
    }`,
  );
  const tcpc = samples.get("tcpc -z")!;
  const empty = samples.get("empty module")!;
  return {
    figure: "6",
    title: "Start-up: tcpc against the runtime's own (an empty module)",
    rows: [
      makeRow({
        figure: "6",
        case: "--version vs an empty module",
        peer: "deno run -P bench/empty.ts",
        unit: "ms",
        higherIsBetter: false,
        tcpc: samples.get("tcpc --version")!,
        peerSamples: empty,
        // "within 1.15x" of the empty module's time: empty / tcpc >= 1 / 1.15.
        target: 0.87,
      }),
      makeRow({
        figure: "6",
        case: "-z to a loopback listener vs an empty module",
        peer: "deno run -P bench/empty.ts",
        unit: "ms",
        higherIsBetter: false,
        tcpc,
        peerSamples: empty,
        // "within 1.25x": empty / tcpc >= 1 / 1.25.
        target: 0.8,
      }),
      makeRow({
        figure: "6",
        case: "--version vs an empty module, CPU time (user + system)",
        peer: "deno run -P bench/empty.ts",
        unit: "ms",
        higherIsBetter: false,
        tcpc: cpu.get("tcpc --version")!,
        peerSamples: cpu.get("empty module")!,
      }),
      makeRow({
        figure: "6",
        case: "-z to a loopback listener vs an empty module, CPU time (user + system)",
        peer: "deno run -P bench/empty.ts",
        unit: "ms",
        higherIsBetter: false,
        tcpc: cpu.get("tcpc -z")!,
        peerSamples: cpu.get("empty module")!,
      }),
      makeRow({
        figure: "6",
        case: "-z to a loopback listener",
        peer: "nc -z",
        unit: "ms",
        higherIsBetter: false,
        tcpc,
        peerSamples: samples.get("nc -z") ?? [],
      }),
    ],
    notes,
  };
}

/** The CPU time (user + system, ms) of one run of `command`, from bash's `time`; null on failure. */
async function cpuMs(command: string): Promise<number | null> {
  // The command's own quoting uses double quotes only, so it fits in single quotes.
  const result = await shell(
    `exec bash -c 'TIMEFORMAT="startup-cpu %3U %3S"; time ${command} >/dev/null 2>&1'`,
    { timeoutMs: 30_000 },
  );
  const found = /startup-cpu (\d+\.\d+) (\d+\.\d+)/.exec(result.stderr);
  if (result.code !== 0 || found === null) return null;
  return (Number(found[1]) + Number(found[2])) * 1000;
}

if (import.meta.main) {
  const options: BenchOptions = { quick: Deno.args.includes("--quick") };
  const at = Deno.args.indexOf("--reps");
  if (at !== -1) options.reps = Number(Deno.args[at + 1]);
  printLine(JSON.stringify({ figures: [await runStartup(options)] }));
}

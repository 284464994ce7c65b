/**
 * Figure 6: per-invocation cost. `tcpc --version` and `tcpc -z` (to a
 * listener in this process that accepts and closes) against `deno run -P` of
 * an empty module (bench/empty.ts, same config and permission flags): the
 * runtime's own start-up. Goals (issue 16): `--version` within 1.15x of the
 * empty module, `-z` within 1.25x. `nc -z` is shown for scale.
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
    }
  } finally {
    listener.close();
    await accepting;
  }
  say(
    `fig 6: ${[...samples].map(([n, v]) => `${n} ${median(v)?.toFixed(1)} ms`).join(", ")}`,
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

if (import.meta.main) {
  const options: BenchOptions = { quick: Deno.args.includes("--quick") };
  const at = Deno.args.indexOf("--reps");
  if (at !== -1) options.reps = Number(Deno.args[at + 1]);
  printLine(JSON.stringify({ figures: [await runStartup(options)] }));
}

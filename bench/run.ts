/**
 * The one entry point of the side-by-side benchmarks (`deno task bench`).
 * It checks for the peers (and prints the apt-get line for what is missing;
 * it installs nothing), runs every figure, prints tcpc's median, the peer's
 * median and the ratio per figure, and writes bench/RESULTS.md and
 * bench/results.json. Figures 3 (bench/sweep.ts) and 4 (bench/echo.ts) are
 * separate scripts run as subprocesses when present. Figure 6 is start-up
 * against an empty module, 8 deadline precision, 9 TLS receive into a pipe,
 * 10 TLS handshakes per second.
 *
 *   deno task bench [--quick] [--only 1,2,5] [--reps N] [--size MiB] [--no-write]
 *
 * @module
 */

import {
  type BenchOptions,
  describeMachine,
  type Figure,
  findPeers,
  fmt,
  installHint,
  type Machine,
  makeRow,
  PEERS,
  printLine,
  REPO,
  type Row,
  say,
  shell,
} from "./common.ts";
import { runTransfer } from "./transfer.ts";
import { runIdleConns } from "./idle_conns.ts";
import { runStartup } from "./startup.ts";
import { ceilingFigure, measureIperf } from "./iperf.ts";
import { runDeadline } from "./deadline.ts";
import { runTls } from "./tls.ts";

const RESULTS_MD = `${REPO}bench/RESULTS.md`;
const RESULTS_JSON = `${REPO}bench/results.json`;
const KEEP_MARKER =
  "<!-- Everything below this line is written by hand and kept by bench/run.ts. -->";

interface RunArgs {
  options: BenchOptions;
  only: Set<string> | null;
  write: boolean;
}

function parseRunArgs(argv: string[]): RunArgs {
  const options: BenchOptions = {};
  let only: Set<string> | null = null;
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    const positive = (text: string) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${arg} "${text}": a positive integer`);
      return n;
    };
    if (arg === "--quick") options.quick = true;
    else if (arg === "--reps") options.reps = positive(value());
    else if (arg === "--size") options.sizeMiB = positive(value());
    else if (arg === "--only") only = new Set(value().split(",").map((s) => s.trim()));
    else if (arg === "--no-write") write = false;
    else if (arg === "-h" || arg === "--help") {
      printLine(
        "Usage: deno task bench [--quick] [--only 1,2,...,10] [--reps N] [--size MiB] [--no-write]",
      );
      Deno.exit(0);
    } else throw new Error(`unknown option "${arg}" (see --help)`);
  }
  return { options, only, write };
}

/** A per-peer target (`targets: { <peer>: ratio }` in an external record), or null. */
function targetFor(targets: unknown, peer: string): number | null {
  if (targets === null || typeof targets !== "object") return null;
  const value = (targets as Record<string, unknown>)[peer];
  return typeof value === "number" ? value : null;
}

/** Figures 3 and 4 come from other scripts printing one JSON object; turn what we can into rows. */
function rowsFromExternal(figure: string, data: unknown): Row[] {
  const rows: Row[] = [];
  const visit = (node: unknown, path: string[]) => {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return;
    const record = node as Record<string, unknown>;
    const runs = (record.runs ?? {}) as Record<string, unknown>;
    const samples = (key: string, fallback: number): number[] => {
      const list = runs[key];
      return Array.isArray(list) && list.every((x) => typeof x === "number") ? list : [fallback];
    };
    // Shape A (echo): { tcpcPerSec, <peer>PerSec, runs: { tcpc: [...], <peer>: [...] } }
    if (typeof record.tcpcPerSec === "number") {
      for (const [key, value] of Object.entries(record)) {
        if (key === "tcpcPerSec" || !key.endsWith("PerSec") || typeof value !== "number") continue;
        const peer = key.slice(0, -"PerSec".length);
        rows.push(makeRow({
          figure,
          case: path.join(" ") || "requests",
          peer,
          unit: "/s",
          higherIsBetter: true,
          tcpc: samples("tcpc", record.tcpcPerSec),
          peerSamples: samples(peer, value),
          target: typeof record.target === "number"
            ? record.target
            : targetFor(record.targets, peer),
        }));
      }
      return;
    }
    // Shape B (sweep): { tcpc: { seconds, runs }, <peer>: { seconds, runs, target? } | { skipped } }
    const tcpc = record.tcpc as Record<string, unknown> | undefined;
    if (tcpc !== undefined && typeof tcpc === "object" && typeof tcpc.seconds === "number") {
      const tcpcRuns = Array.isArray(tcpc.runs) ? tcpc.runs as number[] : [tcpc.seconds];
      for (const [peer, value] of Object.entries(record)) {
        const entry = value as Record<string, unknown>;
        if (peer === "tcpc" || typeof entry?.seconds !== "number") continue;
        rows.push(makeRow({
          figure,
          case: path.join(" ") || "sweep",
          peer,
          unit: "s",
          higherIsBetter: false,
          tcpc: tcpcRuns,
          peerSamples: Array.isArray(entry.runs) ? entry.runs as number[] : [entry.seconds],
          target: typeof entry.target === "number"
            ? entry.target
            : figure === "3" && peer.startsWith("nmap")
            ? 1.0
            : null,
        }));
      }
      return;
    }
    for (const [key, value] of Object.entries(record)) {
      visit(value, key === "results" ? path : [...path, key]);
    }
  };
  visit(data, []);
  return rows;
}

async function runExternal(
  figure: string,
  title: string,
  script: string,
  quickArgs: string[],
  options: BenchOptions,
): Promise<{ figure: Figure; raw: unknown }> {
  const path = `${REPO}bench/${script}`;
  try {
    await Deno.stat(path);
  } catch {
    say(`fig ${figure}: bench/${script} does not exist yet: skipped`);
    return {
      figure: { figure, title, rows: [], notes: [`skipped: bench/${script} is missing`] },
      raw: null,
    };
  }
  const args = options.quick ? quickArgs : [];
  const command = `"${Deno.execPath()}" run -A "${path}" ${args.join(" ")}`;
  say(`fig ${figure}: ${command}`);
  const result = await shell(`cd "${REPO}" && ${command}`, { timeoutMs: 600_000 });
  const notes = [`ran: deno run -A bench/${script} ${args.join(" ")}`.trim()];
  const line = result.stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1);
  let raw: unknown = null;
  try {
    raw = line === undefined ? null : JSON.parse(line);
  } catch { /* reported below */ }
  if (raw === null) {
    notes.push(
      `no JSON result (exit ${result.code}); stderr: ${
        result.stderr.trim().split("\n").at(-1) ?? ""
      }`,
    );
    return { figure: { figure, title, rows: [], notes }, raw: null };
  }
  const rows = rowsFromExternal(figure, raw);
  if (rows.length === 0) notes.push("its JSON has no shape the table knows: see results.json");
  return { figure: { figure, title, rows, notes }, raw };
}

function summaryLine(row: Row): string {
  const verdict = row.met === null
    ? ""
    : row.met
    ? `  (target ${row.target}x: met)`
    : `  (target ${row.target}x: MISSED)`;
  return `fig ${row.figure} ${row.case}: tcpc ${fmt(row.tcpcMedian)} ${row.unit}, ${row.peer} ` +
    `${fmt(row.peerMedian)} ${row.unit}, ratio ${fmt(row.ratio)}${verdict}`;
}

function renderMarkdown(
  machine: Machine,
  figures: Figure[],
  peers: Record<string, boolean>,
  options: BenchOptions,
  kept: string,
): string {
  const hint = installHint(peers);
  const lines = [
    "# tcpc benchmarks: side by side with the tools people use today",
    "",
    `Generated by \`deno task bench${options.quick ? " --quick" : ""}\` on ${machine.date}` +
    (options.quick
      ? " (a quick run: small sizes, few repetitions; not the numbers to quote)."
      : "."),
    "How to run and what each figure measures: [README.md](README.md). Raw samples: " +
    "[results.json](results.json).",
    "",
    `Machine: ${machine.nproc} CPUs (${machine.cpu}), Linux ${machine.kernel}, Deno ${machine.deno}, ` +
    `load average at start ${machine.load}.`,
    "",
    `Peers: ${
      Object.entries(peers).map(([name, ok]) =>
        `${name} (${PEERS[name]!.pkg}) ${ok ? "yes" : "MISSING"}`
      ).join(", ")
    }.` +
    (hint === null ? "" : ` Install the missing ones with \`${hint}\`.`),
    "",
    "Ratio = how many times better tcpc is: throughput tcpc/peer, time or memory peer/tcpc. " +
    "Above 1, tcpc wins. Medians of alternating runs.",
    "",
    "| Fig | Case | Peer | Unit | tcpc | peer | ratio | target |",
    "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
  ];
  for (const figure of figures) {
    for (const row of figure.rows) {
      const target = row.target === null
        ? ""
        : `>= ${row.target}x ${row.met === null ? "?" : row.met ? "met" : "**missed**"}`;
      lines.push(
        `| ${row.figure} | ${row.case} | ${row.peer} | ${row.unit} | ${fmt(row.tcpcMedian)} | ` +
          `${fmt(row.peerMedian)} | ${fmt(row.ratio)} | ${target} |`,
      );
    }
  }
  lines.push("", "## Figures and notes", "");
  for (const figure of figures) {
    lines.push(
      `${figure.figure}. **${figure.title}**${figure.rows.length === 0 ? " (no rows)" : ""}`,
    );
    for (const note of figure.notes) lines.push(`   - ${note.replaceAll("\n", " ")}`);
  }
  lines.push("", KEEP_MARKER, kept.trimEnd(), "");
  return lines.join("\n");
}

async function keptSection(): Promise<string> {
  try {
    const text = await Deno.readTextFile(RESULTS_MD);
    const at = text.indexOf(KEEP_MARKER);
    return at === -1 ? "" : text.slice(at + KEEP_MARKER.length).replace(/^\n/, "");
  } catch {
    return "";
  }
}

async function main(): Promise<void> {
  const { options, only, write } = parseRunArgs(Deno.args);
  const wanted = (fig: string) => only === null || only.has(fig);
  const machine = await describeMachine();
  const peers = await findPeers();
  const missing = Object.entries(peers).filter(([, ok]) => !ok).map(([name]) => name);
  if (missing.length > 0) {
    say(`missing peers: ${missing.join(", ")}; their comparisons are skipped`);
    say(`install them with: ${installHint(peers)}`);
  }
  say(
    `machine: ${machine.nproc} CPUs, ${machine.cpu}, Linux ${machine.kernel}, Deno ${machine.deno}, load ${machine.load}`,
  );
  const figures: Figure[] = [];
  const external: Record<string, unknown> = {};
  const started = performance.now();

  let send: number[] = [];
  let receive: number[] = [];
  if (wanted("1") || wanted("2")) {
    const transfer = await runTransfer(options);
    send = transfer[0]?.rows[0]?.tcpc ?? [];
    receive = transfer[1]?.rows.find((r) => r.case.includes("/dev/null"))?.tcpc ?? [];
    figures.push(...transfer.filter((f) => wanted(f.figure)));
  }
  if (wanted("3")) {
    const sweep = await runExternal("3", "65,535-port sweep in a private namespace", "sweep.ts", [
      "--runs",
      "1",
    ], options);
    figures.push(sweep.figure);
    external.sweep = sweep.raw;
  }
  if (wanted("4")) {
    const echo = await runExternal(
      "4",
      "Request/response: tcpc echo vs redis-benchmark",
      "echo.ts",
      ["--rounds", "1", "--requests", "50000"],
      options,
    );
    figures.push(echo.figure);
    external.echo = echo.raw;
  }
  if (wanted("5")) figures.push(await runIdleConns(options));
  if (wanted("6")) figures.push(await runStartup(options));
  if (wanted("8")) figures.push(await runDeadline(options));
  if (wanted("9") || wanted("10")) {
    const tlsOptions: BenchOptions = { ...options };
    delete tlsOptions.sizeMiB; // figure 9 has its own size (256 MiB)
    figures.push(...(await runTls(tlsOptions)).filter((f) => wanted(f.figure)));
  }
  if (wanted("7")) {
    const iperfOptions: BenchOptions = { ...options };
    delete iperfOptions.reps;
    figures.push(ceilingFigure(await measureIperf(iperfOptions), { send, receive }));
  }
  figures.sort((a, b) => Number(a.figure) - Number(b.figure));

  printLine("");
  for (const figure of figures) {
    if (figure.rows.length === 0) {
      printLine(`fig ${figure.figure}: ${figure.notes.at(-1) ?? "no rows"}`);
    }
    for (const row of figure.rows) printLine(summaryLine(row));
  }
  say(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (!write) return;
  const kept = await keptSection();
  await Deno.writeTextFile(RESULTS_MD, renderMarkdown(machine, figures, peers, options, kept));
  await Deno.writeTextFile(
    RESULTS_JSON,
    JSON.stringify({ machine, options, peers, figures, external }, null, 2) + "\n",
  );
  say("wrote bench/RESULTS.md and bench/results.json");
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    say(`error: ${err instanceof Error ? err.message : String(err)}`);
    Deno.exit(2);
  }
}

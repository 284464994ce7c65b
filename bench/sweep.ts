/**
 * Benchmark: a 65,535-port TCP connect sweep of a private network namespace's
 * loopback, `tcpc probe` against `nmap -sT -T5`, `nc -z` and the floor (the
 * fastest plain Deno loop with tcpc's concurrency, bench/sweep_floor.ts), in
 * the same run.
 * Every sweep runs inside its own `unshare -n` namespace (never the host's
 * loopback, where other programs listen) with one socat listener on port
 * 2500, so each tool must find exactly one open port.
 *
 * Run as root: `deno run -A bench/sweep.ts [--runs N] [--ports LO-HI]`.
 * Tools run in turn each round (tcpc, nmap, nc, tcpc, ...). Prints one JSON
 * object: ports/s for each tool (median of the runs), or why
 * a tool was skipped.
 *
 * @module
 */

import { parseArgs } from "node:util";

const REPO = new URL("..", import.meta.url).pathname;
const OPEN_PORT = 2500;

interface ToolResult {
  /** Median wall time of the sweep, seconds (process start to exit). */
  seconds: number;
  /** Ports per second at the median. */
  portsPerSecond: number;
  /** Every run's time, seconds. */
  runs: number[];
  /** Open ports the tool reported in its last run. */
  openPorts: number[];
  /** Least ratio (peer time / tcpc time) tcpc should reach against this peer (bench/run.ts). */
  target?: number;
}

function write(line: string): void {
  const bytes = new TextEncoder().encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

function note(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`sweep: ${line}\n`));
}

async function available(command: string, args: string[]): Promise<boolean> {
  try {
    await new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "null" })
      .output();
    return true;
  } catch {
    return false;
  }
}

/** Runs `command` in a fresh namespace with lo up and a listener on OPEN_PORT; times it alone. */
async function sweepOnce(command: string): Promise<{ seconds: number; out: string }> {
  const script = [
    "ip link set lo up",
    `socat TCP-LISTEN:${OPEN_PORT},bind=127.0.0.1,fork,reuseaddr /dev/null &`,
    "pid=$!",
    `for i in $(seq 50); do ss -ltn | grep -q ':${OPEN_PORT} ' && break; sleep 0.1; done`,
    "out=$(mktemp)",
    "start=$(date +%s%N)",
    `${command} >"$out" 2>/dev/null`,
    "end=$(date +%s%N)",
    "kill $pid",
    'echo "ELAPSED_NS $((end - start))"',
    'cat "$out"',
    'rm -f "$out"',
  ].join("\n");
  const { stdout, success, stderr } = await new Deno.Command("unshare", {
    args: ["-n", "sh", "-c", script],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  const match = /^ELAPSED_NS (\d+)$/m.exec(text);
  if (!success || match === null) {
    throw new Error(`sweep failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
  return { seconds: Number(match[1]) / 1e9, out: text.slice(text.indexOf("\n") + 1) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Tool {
  name: string;
  command: string;
  openPorts: (out: string) => number[];
  target?: number;
}

/** Runs every tool once per round, in turn (tcpc, nmap, nc, tcpc, ...), so load drifts hit all alike. */
async function benchAlternating(
  tools: Tool[],
  runs: number,
  ports: number,
): Promise<Record<string, ToolResult>> {
  const times = new Map<string, number[]>(tools.map((t) => [t.name, []]));
  const last = new Map<string, string>();
  for (let i = 0; i < runs; i++) {
    for (const tool of tools) {
      note(`${tool.name}, run ${i + 1}/${runs}`);
      const { seconds, out } = await sweepOnce(tool.command);
      times.get(tool.name)!.push(seconds);
      last.set(tool.name, out);
    }
  }
  const results: Record<string, ToolResult> = {};
  for (const tool of tools) {
    const runTimes = times.get(tool.name)!;
    const seconds = median(runTimes);
    results[tool.name] = {
      seconds: Math.round(seconds * 1000) / 1000,
      portsPerSecond: Math.round(ports / seconds),
      runs: runTimes.map((t) => Math.round(t * 1000) / 1000),
      openPorts: tool.openPorts(last.get(tool.name) ?? ""),
      ...(tool.target === undefined ? {} : { target: tool.target }),
    };
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "3" },
      ports: { type: "string", default: "1-65535" },
    },
  });
  const runs = Math.max(1, Number(values.runs));
  const [lo, hi] = String(values.ports).split("-").map(Number);
  if (!lo || !hi || lo > hi || hi > 65535) throw new Error(`bad --ports ${values.ports}`);
  const ports = hi - lo + 1;
  if (!await available("unshare", ["-n", "true"])) {
    write(JSON.stringify({ error: "unshare -n is unavailable: a private namespace is required" }));
    return;
  }
  const results: Record<string, ToolResult | { skipped: string }> = {};
  const deno = Deno.execPath();
  const tools: Tool[] = [{
    name: "tcpc",
    command: `"${deno}" run -P main.ts probe 127.0.0.1:${lo}-${hi} -c 1024 -w 2s --json`,
    openPorts: (out) =>
      out.split("\n").filter((l) => l.includes('"state":"open"')).map((l) => JSON.parse(l).port),
  }, {
    // The floor: plain Deno.connect lanes with tcpc's threads (lib/cli/probe.ts
    // DEFAULT_WORKERS) and 128 connects in flight per thread. Goal: tcpc
    // within 1.1x of it, i.e. floor time / tcpc time >= 1 / 1.1.
    name: "deno floor",
    command: `"${deno}" run --allow-net --allow-read bench/sweep_floor.ts --workers ${
      Math.min(4, Math.max(2, navigator.hardwareConcurrency || 2))
    } --inflight 128 127.0.0.1 ${lo}-${hi}`,
    openPorts: (out) => [...out.matchAll(/^open (\d+)$/gm)].map((m) => Number(m[1])),
    target: 0.91,
  }];
  if (await available("nmap", ["--version"])) {
    tools.push({
      name: "nmap -sT -T5",
      command: `nmap -sT -T5 -n -Pn -p${lo}-${hi} 127.0.0.1 -oG -`,
      openPorts: (out) => [...out.matchAll(/(\d+)\/open\/tcp/g)].map((m) => Number(m[1])),
    });
  } else results["nmap -sT -T5"] = { skipped: "nmap is not installed (apt-get install nmap)" };
  if (await available("nc", ["-h"])) {
    tools.push({
      name: "nc -z",
      command: `nc -z -v -w 2 127.0.0.1 ${lo}-${hi} 2>&1 | grep succeeded`,
      openPorts: (out) => [...out.matchAll(/ (\d+) port \[tcp/g)].map((m) => Number(m[1])),
    });
  } else results["nc -z"] = { skipped: "nc is not installed (apt-get install netcat-openbsd)" };
  note(`${tools.map((t) => t.name).join(", ")}: ${ports} ports, ${runs} alternating rounds`);
  Object.assign(results, await benchAlternating(tools, runs, ports));
  write(JSON.stringify({
    benchmark: "tcp connect sweep of a private namespace's loopback",
    ports,
    runs,
    expectedOpen: [OPEN_PORT],
    machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
    results,
  }));
}

if (import.meta.main) await main();

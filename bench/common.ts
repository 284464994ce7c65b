/**
 * Shared pieces of the side-by-side benchmarks: result rows, medians, timed
 * subprocesses, loopback listeners, the peer check and the machine
 * description. Nothing here installs anything.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The repository root (where main.ts lives). */
export const REPO: string = fileURLToPath(new URL("..", import.meta.url));

/** How the harness runs tcpc: exactly as users do, `deno run -P main.ts`. */
export const TCPC: string = `"${Deno.execPath()}" run -P "${REPO}main.ts"`;

/** One comparison: tcpc's samples against one peer's (or a fixed target's). */
export interface Row {
  /** Figure number, e.g. "1". */
  figure: string;
  /** What is measured, e.g. "stdin (pipe) -> loopback sink". */
  case: string;
  /** The peer's command or name; "target" for a fixed goal. */
  peer: string;
  /** Unit of every sample: "GB/s", "ms", "MB", "/s", "s". */
  unit: string;
  /** True when bigger numbers are better (throughput). */
  higherIsBetter: boolean;
  /** tcpc's samples. */
  tcpc: number[];
  /** The peer's samples (one value for a fixed target). */
  peerSamples: number[];
  /** Median of `tcpc`; null without samples. */
  tcpcMedian: number | null;
  /** Median of `peerSamples`; null without samples. */
  peerMedian: number | null;
  /** How many times better tcpc is (throughput tcpc/peer, time peer/tcpc); null if unknown. */
  ratio: number | null;
  /** The ratio the issue asks for, if any. */
  target: number | null;
  /** Whether `ratio >= target`; null without a target or ratio. */
  met: boolean | null;
  /** Anything a reader must know about this row. */
  note?: string;
}

/** A figure's rows plus notes (skipped peers, method). */
export interface Figure {
  /** Figure number. */
  figure: string;
  /** Title. */
  title: string;
  /** The comparisons. */
  rows: Row[];
  /** Method notes, skipped peers, failures. */
  notes: string[];
}

/** Options common to every figure. */
export interface BenchOptions {
  /** Small sizes and few repetitions (a smoke run). @default {false} */
  quick?: boolean;
  /** Repetitions per client; unset: the figure's default. @default {undefined} */
  reps?: number;
  /** Transfer size in MiB for figures 1, 2 and 7; unset: 1024 (quick: 128). @default {undefined} */
  sizeMiB?: number;
}

/** The median of `values` (mean of the middle two for an even count); null when empty. */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Builds a row from samples: medians, ratio (> 1: tcpc better) and target check. */
export function makeRow(
  fields: Omit<Row, "tcpcMedian" | "peerMedian" | "ratio" | "met" | "target"> & {
    target?: number | null;
  },
): Row {
  const tcpcMedian = median(fields.tcpc);
  const peerMedian = median(fields.peerSamples);
  let ratio: number | null = null;
  if (tcpcMedian !== null && peerMedian !== null && tcpcMedian > 0 && peerMedian > 0) {
    ratio = fields.higherIsBetter ? tcpcMedian / peerMedian : peerMedian / tcpcMedian;
  }
  const target = fields.target ?? null;
  return {
    ...fields,
    tcpcMedian,
    peerMedian,
    ratio,
    target,
    met: target === null || ratio === null ? null : ratio >= target,
  };
}

const encoder = new TextEncoder();

/** Writes one progress line to stderr. */
export function say(line: string): void {
  const bytes = encoder.encode(`bench: ${line}\n`);
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
}

/** Writes one line to stdout (the JSON result of a standalone figure script). */
export function printLine(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

/** What a finished shell command gave. */
export interface ShellResult {
  /** Exit code (-1: killed by the time limit). */
  code: number;
  /** Wall time from spawn to exit, ms. */
  ms: number;
  /** stdout text. */
  stdout: string;
  /** stderr text. */
  stderr: string;
}

/** Options of {@linkcode shell}. */
export interface ShellOptions {
  /** Kill the command after this long, ms. @default {120000} */
  timeoutMs?: number;
}

/** Runs `script` with `sh -c`, stdin from /dev/null unless the script redirects; times it. */
export async function shell(script: string, options: ShellOptions = {}): Promise<ShellResult> {
  const started = performance.now();
  const child = new Deno.Command("sh", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.timeoutMs ?? 120_000);
  try {
    const out = await child.output();
    const ms = performance.now() - started;
    const decoder = new TextDecoder();
    return {
      code: timedOut ? -1 : out.code,
      ms,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(killer);
  }
}

/** stderr without Deno's "permissions in the config file" warning and colours. */
export function cleanStderr(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((line) => !line.includes("Permissions in the config file") && line.trim() !== "")
    .join("\n");
}

/** A peer program and the Debian package that provides it. */
export interface PeerSpec {
  /** Command name. */
  bin: string;
  /** Debian package. */
  pkg: string;
  /** Optional check that the right variant is installed (shell script, exit 0 = ok). */
  check?: string;
}

/** Every peer the figures use. */
export const PEERS: Record<string, PeerSpec> = {
  nc: { bin: "nc", pkg: "netcat-openbsd", check: "nc -h 2>&1 | grep -q OpenBSD" },
  ncat: { bin: "ncat", pkg: "ncat" },
  socat: { bin: "socat", pkg: "socat" },
  nmap: { bin: "nmap", pkg: "nmap" },
  "redis-benchmark": { bin: "redis-benchmark", pkg: "redis-tools" },
  "redis-server": { bin: "redis-server", pkg: "redis-server" },
  iperf3: { bin: "iperf3", pkg: "iperf3" },
  dd: { bin: "dd", pkg: "coreutils" },
};

/** Which peers are present: name -> true/false. */
export async function findPeers(): Promise<Record<string, boolean>> {
  const found: Record<string, boolean> = {};
  for (const [name, spec] of Object.entries(PEERS)) {
    const script = `command -v ${spec.bin} >/dev/null 2>&1${spec.check ? ` && ${spec.check}` : ""}`;
    found[name] = (await shell(script, { timeoutMs: 10_000 })).code === 0;
  }
  return found;
}

/** The apt-get line that installs the missing peers, or null when none is missing. */
export function installHint(found: Record<string, boolean>): string | null {
  const pkgs = [
    ...new Set(Object.entries(found).filter(([, ok]) => !ok).map(([n]) => PEERS[n]!.pkg)),
  ];
  return pkgs.length === 0 ? null : `apt-get install -y ${pkgs.join(" ")}`;
}

/** The machine the numbers come from. */
export interface Machine {
  /** Logical CPUs. */
  nproc: number;
  /** CPU model name. */
  cpu: string;
  /** Kernel release. */
  kernel: string;
  /** Deno version. */
  deno: string;
  /** 1-minute load average when the run started. */
  load: string;
  /** When the run started (ISO 8601). */
  date: string;
}

/** Describes this machine (nproc, CPU model, kernel, deno version, load). */
export async function describeMachine(): Promise<Machine> {
  const info = await shell(
    "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-; uname -r; cut -d' ' -f1-3 /proc/loadavg",
    { timeoutMs: 10_000 },
  );
  const [nproc, cpu, kernel, load] = info.stdout.split("\n").map((line) => line.trim());
  return {
    nproc: Number(nproc) || navigator.hardwareConcurrency,
    cpu: cpu || "unknown",
    kernel: kernel || "unknown",
    deno: Deno.version.deno,
    load: load || "unknown",
    date: new Date().toISOString(),
  };
}

/** A loopback listener on a free port that handles exactly one connection. */
export interface OneShot {
  /** Its port. */
  port: number;
  /** Resolves with the handler's result, or rejects if nobody connected before close. */
  done: Promise<number>;
  /** Closes the listener (and the pending accept). */
  close(): void;
}

/** Listens on 127.0.0.1:0 and runs `handle` on the first connection. */
export function oneShot(handle: (conn: Deno.TcpConn) => Promise<number>): OneShot {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      listener.close();
    } catch { /* closed */ }
  };
  const done = (async () => {
    const conn = await listener.accept();
    close();
    try {
      return await handle(conn);
    } finally {
      try {
        conn.close();
      } catch { /* closed by the handler */ }
    }
  })();
  done.catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, done, close };
}

/** Resolves `promise`, or rejects after `ms` with a message naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rotates `items` left by `by` (so the order of clients changes every repetition). */
export function rotate<T>(items: T[], by: number): T[] {
  if (items.length === 0) return items;
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Formats a number for tables: 3 significant digits. */
export function fmt(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return "-";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

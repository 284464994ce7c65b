/**
 * Benchmark of `tcpc echo` (not a test: run it by hand, on an idle machine).
 *
 *   deno run -A bench/echo.ts [--rounds 3] [--requests 200000] [--no-redis]
 *
 * 1. Request/response against redis-server: `tcpc echo -m 'PING\r\n'
 *    --expect '+PONG\r\n' -c 50` versus `redis-benchmark -t ping_inline -c 50`
 *    on the same server, requests per second (target: tcpc >= 0.8 x).
 * 2. 64-byte echo messages per second at 1 and 100 connections against the
 *    built-in echo server (`tcpc serve`, its own process), versus two
 *    reference clients doing the same work (send, wait for the whole reply,
 *    compare it, next; then half-close and read to EOF):
 *    - `python-selectors`: the seed recipe's own design (Python `selectors`,
 *      non-blocking sockets) generalised to N connections;
 *    - `deno-minimal`: the smallest correct Deno client, one async loop per
 *      connection, no deadlines, no report: the floor of the runtime's cost.
 *
 * Rounds alternate the clients, in an order that rotates each round, so that
 * machine noise hits each alike; the medians are reported. Before the first
 * round each client runs once untimed, so that the server (its JIT) is warm
 * for all. Every client times itself from its first connect to its last close
 * (process start-up is excluded for all). The echo figure also reports
 * messages per CPU-second of each client process (user + system time from
 * `/usr/bin/time`, start-up included: about 20 ms more for tcpc than for the
 * minimal loop), which the noise of a shared machine moves much less than
 * wall time. Target: tcpc >= 0.95 x `deno-minimal` (engine overhead under
 * 5%). Prints one JSON object on stdout; progress on stderr.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { stopChild } from "../tests/peers/servers.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));

function flag(name: string, fallback: number): number {
  const at = Deno.args.indexOf(`--${name}`);
  const value = at === -1 ? NaN : Number(Deno.args[at + 1]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const ROUNDS = flag("rounds", 3);
const REQUESTS = flag("requests", 200_000);
const REDIS = !Deno.args.includes("--no-redis");
/** GNU time, for each client's CPU time; without it the CPU figures are left out. */
const TIME = await Deno.stat("/usr/bin/time").then(() => "/usr/bin/time", () => null);

function progress(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`bench/echo: ${text}\n`));
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** CPU seconds (user + system) of the last client run through {@linkcode run}, or NaN. */
let lastCpuSeconds = NaN;

async function run(command: string, args: string[], stdin?: string): Promise<string> {
  const timed = TIME !== null && stdin === undefined;
  const child = new Deno.Command(timed ? TIME : command, {
    args: timed ? ["-f", "tcpc-bench-cpu %U %S", command, ...args] : args,
    cwd: REPO,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) {
    throw new Error(`${command} ${args.join(" ")}: exit ${code}\n${err}`);
  }
  const cpu = err.match(/tcpc-bench-cpu ([\d.]+) ([\d.]+)/);
  lastCpuSeconds = cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN;
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function tcpcEcho(port: number, args: string[]): Promise<number> {
  const out = await run(Deno.execPath(), [
    "run",
    "-P",
    "main.ts",
    "echo",
    "127.0.0.1",
    String(port),
    "--json",
    "-t",
    "30s",
    ...args,
  ]);
  const record = JSON.parse(out);
  if (record.error !== null) throw new Error(`tcpc echo failed: ${record.error.message}`);
  return record.rate.messagesPerSec;
}

async function redisBenchmark(port: number, requests: number): Promise<number> {
  const out = await run("redis-benchmark", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-t",
    "ping_inline",
    "-c",
    "50",
    "-n",
    String(requests),
    "--csv",
  ]);
  // "test","rps",...  then  "PING_INLINE","86542.62",...
  const row = out.trim().split("\n").find((line) => line.startsWith('"PING_INLINE"'));
  const rps = Number(row?.split(",")[1]?.replaceAll('"', ""));
  if (!Number.isFinite(rps)) throw new Error(`cannot read redis-benchmark output: ${out}`);
  return rps;
}

/** The seed recipe's selectors loop, for N connections and a count, verifying each reply. */
const PYTHON_CLIENT = String.raw`
import os, selectors, socket, sys, time
port, conns, count, size = (int(a) for a in sys.argv[1:5])
msg = os.urandom(size)
sel = selectors.DefaultSelector()
start = time.perf_counter()
state = {}
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    state[s] = {"sent": 0, "got": bytearray(), "done": False}
    sel.register(s, selectors.EVENT_READ)
    s.sendall(msg)
    state[s]["sent"] = 1
verified = 0
live = conns
while live:
    for key, _ in sel.select():
        s = key.fileobj
        st = state[s]
        data = s.recv(65536)
        if not data:
            if not st["done"]:
                sys.exit("peer closed early")
            sel.unregister(s); s.close(); live -= 1
            continue
        if st["done"]:
            continue
        st["got"] += data
        while len(st["got"]) >= size:
            if bytes(st["got"][:size]) != msg:
                sys.exit("reply differs")
            del st["got"][:size]
            verified += 1
            if st["sent"] < count:
                s.sendall(msg); st["sent"] += 1
            else:
                st["done"] = True; s.shutdown(socket.SHUT_WR)
elapsed = time.perf_counter() - start
print(verified / elapsed)
`;

/** The smallest correct Deno client: one async loop per connection. */
const DENO_CLIENT = `
const [port, conns, count, size] = Deno.args.map(Number);
const msg = crypto.getRandomValues(new Uint8Array(size));
let verified = 0;
const start = performance.now();
await Promise.all(Array.from({ length: conns }, async () => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const buf = new Uint8Array(65536);
  const reply = new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    let off = 0;
    while (off < size) off += await conn.write(msg.subarray(off));
    let got = 0;
    while (got < size) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("peer closed early");
      reply.set(buf.subarray(0, Math.min(n, size - got)), got);
      got += n;
    }
    for (let j = 0; j < size; j++) if (reply[j] !== msg[j]) throw new Error("reply differs");
    verified++;
  }
  await conn.closeWrite();
  while ((await conn.read(buf)) !== null) { /* to EOF */ }
  conn.close();
}));
console.log(verified / ((performance.now() - start) / 1000));
`;

async function python(port: number, conns: number, count: number): Promise<number> {
  return Number(
    await run("python3", ["-c", PYTHON_CLIENT, String(port), String(conns), String(count), "64"]),
  );
}

async function denoMinimal(port: number, conns: number, count: number): Promise<number> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, DENO_CLIENT);
    return Number(
      await run(Deno.execPath(), [
        "run",
        "--allow-net",
        file,
        String(port),
        String(conns),
        String(count),
        "64",
      ]),
    );
  } finally {
    await Deno.remove(file);
  }
}

function startServer(command: string, args: (port: number) => string[]) {
  const port = freePort();
  const child = new Deno.Command(command, {
    args: args(port),
    cwd: REPO,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    port,
    ready: () => waitForPort(port),
    stop: async () => {
      await stopChild(child);
    },
  };
}

const results: Record<string, unknown> = {
  machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
  rounds: ROUNDS,
};

// --- 1. redis PING: tcpc echo --expect vs redis-benchmark ---
if (REDIS) {
  const redis = startServer("redis-server", (port) => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ]);
  try {
    await redis.ready();
    const tcpc: number[] = [];
    const reference: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      reference.push(await redisBenchmark(redis.port, REQUESTS));
      tcpc.push(
        await tcpcEcho(redis.port, [
          "-m",
          "PING\\r\\n",
          "--expect",
          "+PONG\\r\\n",
          "-c",
          "50",
          "-n",
          String(Math.ceil(REQUESTS / 50)),
        ]),
      );
      progress(
        `redis round ${round}: redis-benchmark ${Math.round(reference.at(-1)!)}/s, tcpc ${
          Math.round(tcpc.at(-1)!)
        }/s`,
      );
    }
    results.redisPing = {
      requests: REQUESTS,
      connections: 50,
      tcpcPerSec: median(tcpc),
      redisBenchmarkPerSec: median(reference),
      ratio: median(tcpc) / median(reference),
      target: 0.8,
      runs: { tcpc, redisBenchmark: reference },
    };
  } finally {
    await redis.stop();
  }
}

// --- 2. 64-byte echo at 1 and 100 connections vs the reference clients ---
{
  const server = startServer(
    Deno.execPath(),
    (port) => ["run", "-P", "main.ts", "serve", "127.0.0.1", String(port)],
  );
  try {
    await server.ready();
    const echo: Record<string, unknown> = {
      server: "tcpc serve (built-in echo, own process)",
      bytes: 64,
    };
    for (const conns of [1, 100]) {
      const total = conns === 1 ? Math.min(REQUESTS, 50_000) : REQUESTS;
      const count = Math.ceil(total / conns);
      const clients: Record<string, (count: number) => Promise<number>> = {
        tcpc: (count) =>
          tcpcEcho(server.port, ["--size", "64", "-c", String(conns), "-n", String(count)]),
        pythonSelectors: (count) => python(server.port, conns, count),
        denoMinimal: (count) => denoMinimal(server.port, conns, count),
      };
      const names = Object.keys(clients);
      // Untimed warm-up: the first client after start must not meet a cold server.
      for (const name of names) await clients[name]!(Math.max(1, Math.ceil(2000 / conns)));
      const runs: Record<string, number[]> = { tcpc: [], pythonSelectors: [], denoMinimal: [] };
      const cpu: Record<string, number[]> = { tcpc: [], pythonSelectors: [], denoMinimal: [] };
      for (let round = 1; round <= ROUNDS; round++) {
        const shift = (round - 1) % names.length;
        for (const name of [...names.slice(shift), ...names.slice(0, shift)]) {
          runs[name]!.push(await clients[name]!(count));
          cpu[name]!.push(count * conns / lastCpuSeconds);
        }
        progress(
          `echo c=${conns} round ${round}: ${
            Object.entries(runs).map(([k, v]) => `${k} ${Math.round(v.at(-1)!)}/s`).join(", ")
          }`,
        );
      }
      echo[`c${conns}`] = {
        messages: count * conns,
        tcpcPerSec: median(runs.tcpc!),
        pythonSelectorsPerSec: median(runs.pythonSelectors!),
        denoMinimalPerSec: median(runs.denoMinimal!),
        targets: { denoMinimal: 0.95 },
        runs,
      };
      if (cpu.tcpc!.every(Number.isFinite)) {
        // Messages per CPU-second of each client (start-up included).
        echo[`c${conns} per CPU-second`] = {
          messages: count * conns,
          tcpcPerSec: median(cpu.tcpc!),
          pythonSelectorsPerSec: median(cpu.pythonSelectors!),
          denoMinimalPerSec: median(cpu.denoMinimal!),
          runs: cpu,
        };
      }
    }
    results.echo64 = echo;
  } finally {
    await server.stop();
  }
}

Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(results) + "\n"));

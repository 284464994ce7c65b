import assert from "node:assert/strict";
import { cleanStderr, killAfter, outputWithin, REPO, runCli } from "./peers/cli.ts";
import { skipWithoutNetns } from "./peers/netns.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Starts `tcpc serve ARGS` and waits for its "listening on" line; `wrap`
 * runs it through `sh -c` (e.g. to set a ulimit) or `unshare -n`.
 */
async function startServeCli(args: string[], wrap?: (argv: string[]) => string[]) {
  const argv = [Deno.execPath(), "run", "-P", "main.ts", "serve", ...args];
  const [program, ...rest] = wrap ? wrap(argv) : argv;
  const child = new Deno.Command(program!, {
    args: rest,
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  killAfter(child, 30_000);
  while (!out.includes("\n")) {
    const { value, done } = await stdout.read();
    if (done) break;
    out += value;
  }
  const match = /^listening on (127\.0\.0\.1|\[::1\]|0\.0\.0\.0):(\d+) \((\w+)\)\n$/.exec(out);
  assert.ok(match, `unexpected first line: ${JSON.stringify(out)}`);
  const stderrText = new Response(child.stderr).text();
  return {
    port: Number(match[2]),
    mode: match[3],
    pid: child.pid,
    async stop(signal: Deno.Signal = "SIGTERM") {
      child.kill(signal);
      const status = await child.status;
      let rest = "";
      while (true) {
        const { value, done } = await stdout.read();
        if (done) break;
        rest += value;
      }
      return { code: status.code, out: rest, err: cleanStderr(await stderrText) };
    },
  };
}

async function talk(port: number, data: string, hostname = "127.0.0.1", limit = Infinity) {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(encoder.encode(data));
    if (limit === Infinity) await conn.closeWrite();
    let text = "";
    const buffer = new Uint8Array(4096);
    while (text.length < limit) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
    return text.slice(0, limit);
  } finally {
    conn.close();
  }
}

Deno.test("tcpc serve echoes by default and stops cleanly on SIGTERM and SIGINT", async () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const server = await startServeCli(["0"]);
    assert.equal(server.mode, "echo");
    assert.equal(await talk(server.port, "hello\n"), "hello\n");
    const r = await runCli(["127.0.0.1", String(server.port), "-w", "2s"], { stdin: "via tcpc\n" });
    assert.deepEqual([r.code, r.out, r.err], [0, "via tcpc\n", ""]);
    const end = await server.stop(signal);
    assert.deepEqual(end, { code: 0, out: "", err: "" });
  }
});

Deno.test("tcpc serve --mode discard and chargen", async () => {
  const discard = await startServeCli(["127.0.0.1", "0", "--mode", "discard"]);
  try {
    assert.equal(discard.mode, "discard");
    assert.equal(await talk(discard.port, "x".repeat(10_000)), "");
  } finally {
    assert.equal((await discard.stop()).code, 0);
  }
  const chargen = await startServeCli(["0", "-m", "chargen"]);
  try {
    assert.equal(chargen.mode, "chargen");
    const text = await talk(chargen.port, "", "127.0.0.1", 148);
    const ring = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
    assert.equal(text, `${ring.slice(0, 72)}\r\n${ring.slice(1, 73)}\r\n`);
    const json = await runCli(
      ["127.0.0.1", String(chargen.port), "--json", "--max-bytes", "10", "-q", "1s"],
      { stdin: "" },
    );
    assert.equal(json.code, 0, json.err);
    assert.deepEqual(JSON.parse(json.out).data, { text: ring.slice(0, 10) });
  } finally {
    assert.equal((await chargen.stop()).code, 0);
  }
});

Deno.test("tcpc serve listens on ::1 when asked", async (t) => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
  } catch {
    t.step({ name: "no IPv6 loopback", ignore: true, fn: () => {} });
    return;
  }
  const server = await startServeCli(["::1", "0"]);
  try {
    assert.equal(await talk(server.port, "six", "::1"), "six");
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc serve survives clients that reset before accept", async () => {
  const server = await startServeCli(["0", "-v"]);
  try {
    // Freeze the server so no accept runs, let 20 clients connect and reset
    // (SO_LINGER 0) in its queue, then let it go on.
    Deno.kill(server.pid, "SIGSTOP");
    const script = `
import socket, struct
for _ in range(20):
    s = socket.socket(); s.connect(("127.0.0.1", ${server.port}))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
`;
    const py = await outputWithin(
      new Deno.Command("python3", { args: ["-c", script], stdout: "piped", stderr: "piped" })
        .spawn(),
      60_000,
    );
    assert.ok(py.success);
    Deno.kill(server.pid, "SIGCONT");
    for (let i = 0; i < 3; i++) assert.equal(await talk(server.port, `still ${i}`), `still ${i}`);
  } finally {
    Deno.kill(server.pid, "SIGCONT");
    const end = await server.stop();
    assert.equal(end.code, 0, end.err);
    assert.match(end.err, /accept failed, going on/);
    assert.ok(!/Stack backtrace|Uncaught/.test(end.err), end.err);
  }
});

Deno.test("tcpc serve rejects bad input with exit 2 and one line", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const table: [string[], string][] = [
      [["serve"], "[HOST] PORT"],
      [["serve", "a", "1", "2"], "[HOST] PORT"],
      [["serve", "0", "--mode", "bounce"], `"bounce"`],
      [["serve", "70000"], `"70000"`],
      [["serve", "300.1.1.1", "0"], `"300.1.1.1"`],
      [["serve", "0", "--bogus"], "--bogus"],
    ];
    for (const [args, named] of table) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args}: ${r.err}`);
      assert.equal(r.out, "");
      assert.ok(r.err.startsWith("tcpc: ") && r.err.includes(named), `${args}: ${r.err}`);
      assert.equal(r.err.split("\n").length, 2, r.err);
    }
  } finally {
    busy.close();
  }
});

Deno.test("tcpc demo runs a real session against the built-in server", async () => {
  const r = await runCli(["demo"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  const lines = r.out.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^tcpc demo: built-in echo server on 127\.0\.0\.1:[1-9]\d*$/);
  // The echo may come back in one chunk or several: together they are the message.
  const received = lines.filter((l) => l.startsWith("recv: ")).map((l) => l.slice(7, -1));
  assert.equal(received.join(""), "data1\\ndata2\\n", r.out);
  assert.match(r.out, /\nconnected 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:[1-9]\d*, closed by eof\n/);
  assert.match(r.out, /\nsent 12 bytes, received 12 bytes\n/);
  assert.match(
    r.out,
    /\ntimings: resolve [\d.]+m?s, connect [\d.]+m?s, first byte [\d.]+m?s, total [\d.]+m?s\n$/,
  );
});

Deno.test("tcpc serve on a port in use exits 1 with a listen error naming the address", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const busyPort = (busy.addr as Deno.NetAddr).port;
  try {
    // Not bad input (exit 2): the same command works once the port is free.
    const r = await runCli(["serve", String(busyPort)]);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, "");
    assert.equal(r.err, `tcpc: listen "127.0.0.1:${busyPort}": address in use\n`);
  } finally {
    busy.close();
  }
});

Deno.test("tcpc serve 0.0.0.0 says on stderr that it listens on every interface", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // In a private namespace, so "every interface" is only its loopback.
  const server = await startServeCli(
    ["0.0.0.0", "0"],
    (argv) => ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...argv],
  );
  const { code, err } = await server.stop();
  assert.equal(code, 0, err);
  assert.equal(
    err,
    "tcpc serve: listening on every IPv4 interface (0.0.0.0): other machines can connect (give 127.0.0.1 for this machine only)\n",
  );
});

Deno.test("tcpc demo --help prints its usage and exits 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await runCli(["demo", flag]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "");
    assert.match(r.out, /^Usage: tcpc demo\n/);
  }
});

/** CPU time (user + system) of a process, in clock ticks, from /proc/PID/stat. */
async function cpuTicks(pid: number): Promise<number> {
  // Through cat: Deno wants --allow-all to read /proc itself.
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
  const text = new TextDecoder().decode(stdout);
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

Deno.test("tcpc serve out of descriptors backs off instead of spinning, and logs it once", async () => {
  const server = await startServeCli(
    ["127.0.0.1", "0", "-v"],
    (argv) => ["sh", "-c", 'ulimit -n 64 && exec "$@"', "sh", ...argv],
  );
  const clients: Deno.Conn[] = [];
  let stopped: Awaited<ReturnType<typeof server.stop>> | null = null;
  try {
    // 100 clients that hold their connections: the server runs out at about 50.
    for (let i = 0; i < 100; i++) {
      clients.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    const before = await cpuTicks(server.pid);
    const started = performance.now();
    // A measurement window, not a synchronisation: the accept loop is failing now.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const ticks = await cpuTicks(server.pid) - before;
    const seconds = (performance.now() - started) / 1000;
    // Before: one full core (about 100 ticks a second). Generous bound: a quarter of that.
    assert.ok(ticks < 25 * seconds, `${ticks} ticks of CPU in ${seconds.toFixed(1)} s`);
  } finally {
    for (const conn of clients) conn.close();
    stopped = await server.stop();
  }
  const lines = stopped.err.split("\n").filter((line) => /accept(:| failed)/.test(line));
  // Before: tens of thousands of "accept failed" lines.
  assert.ok(lines.length <= 3, lines.slice(0, 10).join("\n"));
  assert.match(
    stopped.err,
    /accept: out of file descriptors \(\d+ connections open; raise ulimit -n\)/,
  );
});

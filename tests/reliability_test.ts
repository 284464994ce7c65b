/**
 * The defects adversarial testing found (issue "Reliability round 2") and the
 * rough edges of the connection-layer issue, each run for real: real peers,
 * real pipes, real signals, private namespaces where the kernel must be bent.
 */
import assert from "node:assert/strict";
import { cleanStderr, outputWithin, REPO, runCli, spawnCli } from "./peers/cli.ts";
import { runCliIsolated, runInNetns, skipWithoutNetns } from "./peers/netns.ts";
import { freePort, startBuiltin } from "./peers/servers.ts";

const decoder = new TextDecoder();

/** A python3 peer script on a free port; `script` gets `PORT` and prints its result. */
async function pythonPeer(script: string) {
  const port = freePort();
  const child = new Deno.Command("python3", {
    args: ["-c", script, String(port)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Wait for the listener without connecting to it (a connect would be its client).
  for (let i = 0; i < 100; i++) {
    const ss = await new Deno.Command("ss", { args: ["-ltnH", `sport = :${port}`] }).output();
    if (decoder.decode(ss.stdout).trim() !== "") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const output = outputWithin(child, 60_000);
  return {
    port,
    async result(): Promise<string> {
      const out = await output;
      return decoder.decode(out.stdout).trim() + decoder.decode(out.stderr);
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await output;
    },
  };
}

/**
 * An in-process peer: each client gets `bytes` at once, then the connection
 * stays open (`hold`) or is closed.
 */
function sender(bytes: number, hold: boolean) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        try {
          const data = new Uint8Array(bytes).fill(0x62);
          for (let offset = 0; offset < data.length;) {
            offset += await conn.write(data.subarray(offset));
          }
          if (!hold) conn.close();
        } catch { /* the client went away */ }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("tcpc keeps sending after the peer's half-close while the peer reads", async () => {
  // The peer sends FIN first, then reads 4 MiB slowly: every byte must arrive,
  // where tcpc used to stop 250 ms after the FIN and exit 0 with input unsent.
  const size = 4 * 1024 * 1024;
  const file = await Deno.makeTempFile();
  await Deno.writeFile(file, new Uint8Array(size).fill(0x61));
  const peer = await pythonPeer(`
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
c.shutdown(socket.SHUT_WR)
total = 0
while True:
    data = c.recv(65536)
    if not data: break
    total += len(data); time.sleep(0.01)
print(total)
`);
  try {
    const r = await runCli(["127.0.0.1", String(peer.port), "-f", file, "--json", "-w", "5s"]);
    const record = JSON.parse(r.out);
    assert.equal(r.code, 0, r.err);
    assert.equal(record.bytesSent, size);
    assert.equal(record.close, "eof");
    assert.equal(await peer.result(), String(size));
  } finally {
    await peer.kill();
    await Deno.remove(file);
  }
});

Deno.test("tcpc reports a peer that resets after its half-close, never exit 0", async () => {
  const file = await Deno.makeTempFile();
  await Deno.writeFile(file, new Uint8Array(8 * 1024 * 1024));
  const peer = await pythonPeer(`
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); c.shutdown(socket.SHUT_WR); c.recv(1000)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
`);
  try {
    const r = await runCli(["127.0.0.1", String(peer.port), "-f", file, "--json", "-w", "5s"]);
    const record = JSON.parse(r.out);
    assert.equal(r.code, 1, r.err);
    assert.equal(record.close, "error");
    assert.ok(["reset", "closed"].includes(record.error.kind), record.error.message);
    assert.ok(record.bytesSent < 8 * 1024 * 1024);
  } finally {
    await peer.kill();
    await Deno.remove(file);
  }
});

Deno.test("tcpc -z never reports a self-connect as open", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // With one ephemeral port, the kernel must pick the destination port as the
  // source port: TCP simultaneous open connects the socket to itself.
  const script = [
    'sysctl -qw net.ipv4.ip_local_port_range="40000 40000"',
    `cd '${REPO}'`,
    `"${Deno.execPath()}" run -P main.ts 127.0.0.1 40000 -z --json; echo "exit=$?"`,
    `"${Deno.execPath()}" run -P main.ts probe 127.0.0.1:40000 --json; echo "exit=$?"`,
  ].join("\n");
  const r = await runInNetns("sh", ["-c", script]);
  const lines = r.out.trim().split("\n");
  const connect = JSON.parse(lines[0]!);
  assert.equal(lines[1], "exit=1", r.err);
  assert.equal(connect.error.kind, "refused");
  assert.match(connect.error.message, /connected to itself/);
  const probe = JSON.parse(lines[2]!);
  assert.notEqual(probe.state, "open", lines[2]);
  assert.equal(lines[3], "exit=1", r.err);
});

Deno.test("tcpc -w during a slow lookup names the lookup, the host and the flag", async (t) => {
  if (await skipWithoutNetns(t)) return;
  const timed = await runCliIsolated(["slow.example", "80", "-w", "300ms", "--json"], {
    resolver: "silent",
  });
  assert.equal(timed.code, 4, timed.err);
  const record = JSON.parse(timed.out);
  assert.deepEqual(record.error, {
    kind: "timeout",
    message: 'lookup "slow.example": timed out after 300ms (--connect-timeout)',
    timer: "connect",
  });
  // Without -w, a resolver that never answers is not "no such host".
  const silent = await runCliIsolated(["slow.example", "80"], { resolver: "silent" });
  assert.equal(silent.code, 3, silent.err);
  assert.match(silent.err, /^tcpc: lookup "slow\.example": the resolver did not answer/m);
  const missing = await runCliIsolated(["missing.example", "80"]);
  assert.equal(missing.code, 3, missing.err);
  assert.match(missing.err, /^tcpc: lookup "missing\.example": name resolution failed/m);
});

Deno.test("tcpc -w 1ms reports the operation, the address and the timer", async () => {
  await using peer = await startBuiltin();
  const r = await runCli(["localhost", String(peer.port), "-w", "1ms", "--json"]);
  const record = JSON.parse(r.out);
  if (r.code === 0) return; // the whole dial fit in 1 ms: nothing to report
  assert.equal(r.code, 4, r.err);
  assert.equal(record.error.timer, "connect");
  assert.match(
    record.error.message,
    /^(lookup "localhost"|connect "localhost:\d+"): timed out after 1ms \(--connect-timeout\)$/,
  );
});

/** Spawns the CLI with stdout piped and never read until the process ended. */
async function withStalledStdout(args: string[], signal?: Deno.Signal, signalAfterMs = 0) {
  const child = spawnCli(args, { killAfterMs: 30_000 });
  let killer: ReturnType<typeof setTimeout> | undefined;
  if (signal !== undefined) killer = setTimeout(() => child.kill(signal), signalAfterMs);
  try {
    const status = await child.status;
    const err = cleanStderr(decoder.decode(await new Response(child.stderr).arrayBuffer()));
    await child.stdout.cancel();
    return { code: status.code, err };
  } finally {
    clearTimeout(killer);
  }
}

Deno.test("a stalled stdout reader does not stop deadlines or signals", async (t) => {
  // 2 MiB comes at once and the peer stays; nobody reads tcpc's stdout (a 64 KiB pipe).
  await using peer = sender(2 * 1024 * 1024, true);
  await t.step("--deadline ends the run and says output was cut", async () => {
    const cut = await withStalledStdout(["127.0.0.1", String(peer.port), "--deadline", "1s"]);
    assert.equal(cut.code, 4, cut.err);
    assert.match(cut.err, /--deadline.*output cut: \d+ bytes not written/);
  });
  await t.step("-t bounds a write to the stalled output", async () => {
    const r = await withStalledStdout(["127.0.0.1", String(peer.port), "-t", "1s"]);
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /a write to the output waited for 1s/);
  });
  await t.step("SIGTERM during the drain exits 143", async () => {
    const r = await withStalledStdout(["127.0.0.1", String(peer.port)], "SIGTERM", 1500);
    assert.equal(r.code, 143, r.err);
    assert.match(r.err, /interrupted by SIGTERM/);
  });
  await t.step("--json with a stalled reader still obeys --deadline", async () => {
    const r = await withStalledStdout([
      "127.0.0.1",
      String(peer.port),
      "--json",
      "--deadline",
      "1s",
      "-t",
      "500ms",
    ]);
    assert.equal(r.code, 4, r.err);
  });
});

Deno.test("SIGHUP ends a session with its JSON record and exit 129", async () => {
  await using peer = sender(10, true);
  const child = spawnCli(["127.0.0.1", String(peer.port), "--json", "-d", "x"]);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  child.kill("SIGHUP");
  const out = await child.output();
  assert.equal(out.code, 129, decoder.decode(out.stderr));
  const record = JSON.parse(decoder.decode(out.stdout));
  assert.equal(record.close, "aborted");
  assert.match(cleanStderr(decoder.decode(out.stderr)), /interrupted by SIGHUP/);
});

Deno.test("a second SIGINT right after the first (deno task) keeps ping's statistics", async () => {
  await using peer = await startBuiltin();
  const child = spawnCli(["ping", "127.0.0.1", String(peer.port), "-n", "0", "-i", "100ms"]);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  child.kill("SIGINT");
  await new Promise((resolve) => setTimeout(resolve, 20));
  try {
    child.kill("SIGINT"); // what `deno task` forwards from a terminal's Ctrl-C
  } catch { /* it ended already, having printed its report */ }
  const out = await child.output();
  const stdout = decoder.decode(out.stdout);
  assert.equal(out.code, 130, decoder.decode(out.stderr));
  assert.match(stdout, /ping statistics|attempts/);
  assert.match(cleanStderr(decoder.decode(out.stderr)), /interrupted by SIGINT/);
});

Deno.test("-f FIFO honours --deadline and SIGINT while nobody opens the other end", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/fifo`;
  try {
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    await using peer = await startBuiltin();
    const r = await runCli(["127.0.0.1", String(peer.port), "-f", fifo, "--deadline", "500ms"]);
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /--deadline/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("echo dials a name like connect does: Happy Eyeballs over every address", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // dualname is ::1 first, then 127.0.0.1; the echo service listens on 127.0.0.1 only.
  const r = await runCliIsolated(["echo", "dualname", "7007", "-n", "3", "--json"], {
    hosts: ["127.0.0.1 localhost", "::1 dualname", "127.0.0.1 dualname"],
    setup: [
      "socat TCP-LISTEN:7007,bind=127.0.0.1,fork,reuseaddr PIPE </dev/null >/dev/null 2>&1 &",
      "for i in $(seq 50); do ss -ltn | grep -q ':7007 ' && break; sleep 0.1; done",
    ],
  });
  assert.equal(r.code, 0, r.err);
  const report = JSON.parse(r.out);
  assert.equal(report.messages.verified, 3, r.out);
  assert.equal(report.connections.ok, 1, r.out);
});

Deno.test("probe exits 5 when the sandbox refuses a lookup", async () => {
  const r = await runCli(["probe", "localhost:80"], {
    permissions: ["--allow-net=127.0.0.1", "--allow-read", "--no-prompt"],
  });
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /lookup "localhost": denied by the permission sandbox/);
});

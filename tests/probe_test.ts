import assert from "node:assert/strict";
import { cleanStderr, outputWithin, runCli } from "./peers/cli.ts";
import { freePort, startBuiltin, startHanging, startRedis } from "./peers/servers.ts";
import { LISTEN_2500, runInNetns, skipWithoutNetns } from "./peers/netns.ts";
import { planProbe } from "../lib/cli/probe.ts";
import { UsageError } from "../lib/errors.ts";
import { probeRecords } from "./peers/probe.ts";
import { acceptEach } from "./peers/accept.ts";

const REPO = new URL("..", import.meta.url).pathname;

Deno.test("planProbe() expands targets and validates flags before any socket", async () => {
  const plan = await planProbe(["127.0.0.1:80-82", "[::1]:443", "localhost:7,9", "-c", "10"]);
  assert.deepEqual(plan.targets.map((t) => `${t.host} ${t.port}`), [
    "127.0.0.1 80",
    "127.0.0.1 81",
    "127.0.0.1 82",
    "::1 443",
    "localhost 7",
    "localhost 9",
  ]);
  assert.equal(plan.concurrency, 10);
  assert.equal(plan.timeoutMs, 2000);
  for (
    const bad of [
      [],
      ["127.0.0.1"],
      ["127.0.0.1:0"],
      ["127.0.0.1:9-1"],
      ["::1:80"],
      ["127.0.0.1:80", "--expect", ""],
      ["127.0.0.1:80", "--send-hex", "0g"],
      ["127.0.0.1:80", "--proto", "nope"],
      ["127.0.0.1:80", "--expect-re", "("],
      ["127.0.0.1:80", "-c", "0"],
      ["127.0.0.1:80", "-f", "/nonexistent/targets.txt"],
    ]
  ) {
    await assert.rejects(planProbe(bad), UsageError, bad.join(" "));
  }
});

Deno.test("tcpc probe reports open, closed and timeout for a mix of ports", async () => {
  const listening = await startBuiltin("echo");
  const closed = freePort();
  const hanging = await startHanging();
  try {
    await hanging.fill();
    const targets = `127.0.0.1:${listening.port},${closed},${hanging.port}`;
    const result = await runCli(["probe", targets, "-w", "500ms", "--json"]);
    assert.equal(result.code, 1, result.err);
    const found = probeRecords(result.out);
    assert.deepEqual(found.map((r) => [r.port, r.state]), [
      [listening.port, "open"],
      [closed, "closed"],
      [hanging.port, "timeout"],
    ]);
    assert.equal(found[0]?.error, null);
    assert.ok((found[0]?.timings.connectMs ?? -1) >= 0);
    assert.equal(found[1]?.error?.kind, "refused");
    assert.equal(found[1]?.error?.message, `connect "127.0.0.1:${closed}": connection refused`);
    assert.equal(found[2]?.error?.timer, "connect");
    assert.ok((found[2]?.timings.totalMs ?? 0) >= 450);
    assert.equal(result.err, "");

    const table = await runCli(["probe", targets, "-w", "500ms"]);
    const lines = table.out.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^TARGET\s+STATE\s+CONNECT\s+DETAIL$/);
    assert.match(lines[1] ?? "", new RegExp(`^127\\.0\\.0\\.1:${listening.port}\\s+open\\s`));
    assert.match(lines[2] ?? "", /\sclosed\s.*connection refused$/);
    assert.match(lines[3] ?? "", /\stimeout\s.*timed out after 500ms$/);
    assert.match(lines[4] ?? "", /^3 targets in .*: 1 open, 1 closed, 1 timeout$/);
  } finally {
    await hanging.stop();
    await listening.stop();
  }
});

Deno.test("tcpc probe exits 0 when every target is open", async () => {
  const a = await startBuiltin("discard");
  const b = await startBuiltin("echo");
  try {
    const result = await runCli(["probe", `127.0.0.1:${a.port}`, `localhost:${b.port}`]);
    assert.equal(result.code, 0, result.out + result.err);
    assert.match(result.out, /2 targets in .*: 2 open$/m);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("tcpc probe --send/--expect checks redis PING -> +PONG, and reports a mismatch", async () => {
  const redis = await startRedis();
  try {
    const target = `127.0.0.1:${redis.port}`;
    const ok = await runCli([
      "probe",
      target,
      "--send",
      "PING\\r\\n",
      "--expect",
      "+PONG",
      "--json",
    ]);
    assert.equal(ok.code, 0, ok.err);
    const [good] = probeRecords(ok.out);
    assert.equal(good?.state, "open");
    assert.equal(good?.reply, "+PONG\\r\\n");
    assert.equal(good?.bytesSent, 6);
    assert.ok((good?.timings.firstByteMs ?? -1) >= 0);

    const re = await runCli(["probe", target, "--send", "PING\\r\\n", "--expect-re", "^\\+PO"]);
    assert.equal(re.code, 0, re.out + re.err);

    const bad = await runCli([
      "probe",
      target,
      "--send",
      "PING\\r\\n",
      "--expect",
      "+NOPE",
      "-w",
      "500ms",
      "--json",
    ]);
    assert.equal(bad.code, 6, bad.out + bad.err);
    const [mismatch] = probeRecords(bad.out);
    assert.equal(mismatch?.state, "mismatch");
    assert.equal(mismatch?.error?.kind, "verify");
    assert.match(
      mismatch?.error?.message ?? "",
      /expected "\+NOPE", got "\+PONG\\r\\n" within 500ms/,
    );
  } finally {
    await redis.stop();
  }
});

Deno.test("tcpc probe exits 1, not 6, when a mismatch comes with a closed port", async () => {
  const silent = await startBuiltin("discard");
  const closed = freePort();
  try {
    const result = await runCli([
      "probe",
      `127.0.0.1:${silent.port},${closed}`,
      "--expect",
      "220",
      "-w",
      "300ms",
      "--json",
    ]);
    assert.equal(result.code, 1);
    assert.deepEqual(probeRecords(result.out).map((r) => r.state), ["mismatch", "closed"]);
    assert.match(probeRecords(result.out)[0]?.error?.message ?? "", /got nothing within 300ms/);
  } finally {
    await silent.stop();
  }
});

Deno.test("tcpc probe -f reads targets from a file and rejects bad input with exit 2", async () => {
  const server = await startBuiltin("echo");
  const path = await Deno.makeTempFile({ suffix: ".txt" });
  try {
    await Deno.writeTextFile(path, `# local services\n127.0.0.1:${server.port}\n\n`);
    const result = await runCli(["probe", "-f", path, "--json"]);
    assert.equal(result.code, 0, result.err);
    assert.equal(probeRecords(result.out)[0]?.state, "open");

    const bad = await runCli(["probe", "127.0.0.1:99999"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.out, "");
    assert.match(bad.err, /invalid port "99999"/);
  } finally {
    await Deno.remove(path);
    await server.stop();
  }
});

Deno.test("tcpc probe with ulimit -n 64 lowers its concurrency on EMFILE and finishes", async () => {
  // A server that answers each connection after 300 ms, so that all of them
  // are held open at once and the 64-descriptor limit is hit.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns = new Set<Deno.Conn>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const accepting = acceptEach(listener, (conn) => {
    conns.add(conn);
    const timer = setTimeout(() => {
      timers.delete(timer);
      conn.write(new TextEncoder().encode("hello\n")).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }, 300);
    timers.add(timer);
  });
  try {
    const count = 150;
    const target = `127.0.0.1:${Array(count).fill(port).join(",")}`;
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        'ulimit -n 64 && exec "$0" run -P main.ts probe "$1" --expect hello -c 200 -w 10s --json',
        Deno.execPath(),
        target,
      ],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await outputWithin(child.spawn(), 60_000);
    const err = new TextDecoder().decode(stderr);
    const found = probeRecords(new TextDecoder().decode(stdout));
    assert.equal(found.length, count, err);
    assert.deepEqual(new Set(found.map((r) => r.state)), new Set(["open"]), err);
    assert.equal(code, 0, err);
    assert.match(err, /out of file descriptors \(EMFILE\) with \d+ sockets in use/);
  } finally {
    listener.close();
    await accepting;
    for (const timer of timers) clearTimeout(timer);
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }
});

Deno.test("tcpc probe sweeps a port range inside a private network namespace", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // Only inside the namespace: one listener on port 2500, everything else closed.
  const script = [
    ...LISTEN_2500,
    `"$0" run -P main.ts probe 127.0.0.1:1-20000 -c 1000 -w 1s --json`,
    "code=$?",
    "kill $pid",
    "exit $code",
  ].join("\n");
  const result = await runInNetns("sh", ["-c", script, Deno.execPath()], { cwd: REPO });
  const found = probeRecords(result.out);
  assert.equal(found.length, 20000, result.err);
  assert.deepEqual(found.map((r) => r.port), Array.from({ length: 20000 }, (_, i) => i + 1));
  const open = found.filter((r) => r.state === "open").map((r) => r.port);
  assert.deepEqual(open, [2500]);
  const states = new Set(found.filter((r) => r.port !== 2500).map((r) => r.state));
  assert.deepEqual(states, new Set(["closed"]), "no connect stalled into a timeout");
  assert.equal(result.code, 1);
});

/** A peer that sends `reply` to each client, then closes it or keeps it open until stopped. */
function startReplier(reply: string, close = false): { port: number; stop(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const accepting = acceptEach(listener, (conn) => {
    conns.add(conn);
    conn.write(new TextEncoder().encode(reply)).catch(() => {}).finally(() => {
      if (!close) return;
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    });
  });
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async stop() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("tcpc probe --expect-re with catastrophic backtracking ends at -w with a clear mismatch", async () => {
  // ^(a+)+$ on 34 "a" and "!" backtracks for minutes: before, -w and signals
  // were ignored for that long.
  const peer = startReplier("a".repeat(34) + "!");
  try {
    const result = await runCli(
      ["probe", `127.0.0.1:${peer.port}`, "--expect-re", "^(a+)+$", "-w", "1s", "--json"],
      { killAfterMs: 30_000 },
    );
    assert.equal(result.code, 6, result.err);
    const [record] = probeRecords(result.out);
    assert.equal(record?.state, "mismatch");
    assert.equal(record?.error?.kind, "verify");
    assert.match(
      record?.error?.message ?? "",
      /expected \/\^\(a\+\)\+\$\/, got "a{34}!" \(the match took longer than 1s on 35 bytes: too much backtracking\)$/,
    );
    // Generous: the run is bounded by -w (1 s), not by the regex (minutes).
    assert.ok(result.ms < 20_000, `took ${result.ms} ms`);
  } finally {
    await peer.stop();
  }
});

Deno.test("tcpc probe --expect-re still matches replies that end with the peer's close", async () => {
  const peer = await startBuiltin("chargen");
  const quick = startReplier("+PONG\r\n", true);
  try {
    const result = await runCli([
      "probe",
      `127.0.0.1:${peer.port},${quick.port}`,
      "--expect-re",
      '^ !"#|PONG',
      "-w",
      "5s",
      "--json",
    ]);
    assert.equal(result.code, 0, result.out + result.err);
    assert.deepEqual(probeRecords(result.out).map((r) => r.state), ["open", "open"]);
  } finally {
    await quick.stop();
    await peer.stop();
  }
});

Deno.test("tcpc probe counts ports before expanding ranges and exits 2 over the cap at once", async () => {
  // 2,100 full ranges on one line are 137 million targets: before, they were
  // expanded first (2 GB, then "Invalid array length", exit 1). No socket opens.
  const path = await Deno.makeTempFile({ suffix: ".txt" });
  try {
    await Deno.writeTextFile(path, `127.0.0.1:${Array(2100).fill("1-65535").join(",")}\n`);
    const one = await runCli(["probe", "-f", path], { killAfterMs: 30_000 });
    assert.equal(one.code, 2, one.err);
    assert.equal(one.out, "");
    assert.equal(one.err, "tcpc: too many targets: 137623500, at most 1000000 per run\n");

    await Deno.writeTextFile(path, "127.0.0.1:1-65535\n".repeat(2100));
    const many = await runCli(["probe", "-f", path], { killAfterMs: 30_000 });
    assert.equal(many.code, 2, many.err);
    assert.equal(many.err, "tcpc: too many targets: 137623500, at most 1000000 per run\n");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("tcpc probe --workers 16 under ulimit -n 64 uses fewer workers instead of panicking", async () => {
  const server = await startBuiltin("echo");
  try {
    const target = `127.0.0.1:${Array(40).fill(server.port).join(",")}`;
    const { code, out, err } = await runCli(["probe", target, "--workers", "16", "--json"], {
      fdLimit: 64,
    });
    assert.doesNotMatch(err, /panicked/);
    const found = probeRecords(out);
    assert.equal(found.length, 40, err);
    assert.deepEqual(new Set(found.map((r) => r.state)), new Set(["open"]), err);
    assert.equal(code, 0, err);
    assert.match(err, /--workers 16 needs about 144 free file descriptors, \d+ are free: using /);
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc probe with workers piped into head -c 1 exits 0 quietly", async () => {
  const server = await startBuiltin("echo");
  try {
    const target = `127.0.0.1:${Array(2000).fill(server.port).join(",")}`;
    // A real pipe to head: it exits after one byte and closes the read end.
    const { stdout, stderr } = await new Deno.Command("bash", {
      args: [
        "-c",
        // timeout: the CLI sits in a pipeline, where a kill of bash would not reach it.
        'timeout -s KILL 60 "$0" run -P main.ts probe "$1" --workers 2 | head -c 1; echo " ${PIPESTATUS[0]}"',
        Deno.execPath(),
        target,
      ],
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = cleanStderr(new TextDecoder().decode(stderr));
    assert.equal(new TextDecoder().decode(stdout), "T 0\n", err);
    assert.equal(err, "");
  } finally {
    await server.stop();
  }
});

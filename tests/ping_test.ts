import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";
import { runCliIsolated, skipWithoutNetns } from "./peers/netns.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";
import { formatPingStats, pingStats } from "../lib/report/ping_stats.ts";
import { planPing } from "../lib/cli/ping.ts";
import { UsageError } from "../lib/errors.ts";

Deno.test("pingStats() computes min/avg/max/mdev and loss like ping(8)", () => {
  const cases: [(number | null)[], Partial<ReturnType<typeof pingStats>>][] = [
    [[], { attempts: 0, succeeded: 0, lossPercent: 0, avgMs: null }],
    [[null, null], { attempts: 2, succeeded: 0, lossPercent: 100, minMs: null, mdevMs: null }],
    [[2], { minMs: 2, avgMs: 2, maxMs: 2, mdevMs: 0, lossPercent: 0 }],
    [[1, 3, null, null], { minMs: 1, avgMs: 2, maxMs: 3, mdevMs: 1, lossPercent: 50 }],
    [[1, 2, 3, 4], { avgMs: 2.5, mdevMs: Math.sqrt(1.25) }],
  ];
  for (const [times, expected] of cases) {
    const stats = pingStats(times);
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(stats[key as keyof typeof stats], value, `${JSON.stringify(times)} ${key}`);
    }
  }
  assert.deepEqual(formatPingStats(pingStats([1, 3, null]), "127.0.0.1:80"), [
    "--- 127.0.0.1:80 tcp ping statistics ---",
    "3 attempts, 2 connected, 33.3% loss",
    "rtt min/avg/max/mdev = 1.000/2.000/3.000/1.000 ms",
  ]);
});

Deno.test("planPing() validates before any socket and bounds the default count", async () => {
  const plan = await planPing(["127.0.0.1", "80"]);
  assert.equal(plan.count, 4);
  assert.equal(plan.intervalMs, 1000);
  assert.equal(plan.timeoutMs, 2000);
  assert.equal((await planPing(["::1", "80", "-n", "0"])).count, 0);
  for (
    const bad of [[], ["127.0.0.1"], ["127.0.0.1", "0"], ["h", "1", "x"], ["h", "1", "-n", "-1"], [
      "h",
      "1",
      "-4",
      "-6",
    ]]
  ) {
    await assert.rejects(() => planPing(bad), UsageError, bad.join(" "));
  }
});

Deno.test("tcpc ping prints one line per attempt, then the statistics", async () => {
  const server = await startBuiltin("echo");
  try {
    const result = await runCli(["ping", "127.0.0.1", String(server.port), "-i", "50ms"]);
    assert.equal(result.code, 0, result.err);
    const lines = result.out.trimEnd().split("\n");
    assert.equal(lines.length, 4 + 3, result.out);
    for (let seq = 1; seq <= 4; seq++) {
      assert.match(
        lines[seq - 1] ?? "",
        new RegExp(`^127\\.0\\.0\\.1:${server.port}: seq=${seq} open time=\\d+\\.\\d{3} ms$`),
      );
    }
    assert.equal(lines[4], `--- 127.0.0.1:${server.port} tcp ping statistics ---`);
    assert.equal(lines[5], "4 attempts, 4 connected, 0% loss");
    assert.match(lines[6] ?? "", /^rtt min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/);
    assert.ok(result.ms >= 150, "attempts are spaced by the interval");
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc ping exits 1 when no attempt connects, and says why", async () => {
  const closed = freePort();
  const hanging = await startHanging();
  try {
    await hanging.fill();
    const refused = await runCli(["ping", "127.0.0.1", String(closed), "-n", "2", "-i", "10ms"]);
    assert.equal(refused.code, 1);
    assert.match(refused.out, /seq=1 closed: connection refused\n/);
    assert.match(refused.out, /2 attempts, 0 connected, 100% loss\n$/);

    const silent = await runCli([
      "ping",
      "127.0.0.1",
      String(hanging.port),
      "-n",
      "1",
      "-w",
      "200ms",
      "--json",
    ]);
    assert.equal(silent.code, 1);
    const [attempt, summary] = silent.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(attempt.type, "attempt");
    assert.equal(attempt.state, "timeout");
    assert.equal(attempt.error.timer, "connect");
    assert.equal(attempt.connectMs, null);
    assert.equal(summary.type, "summary");
    assert.equal(summary.attempts, 1);
    assert.equal(summary.lossPercent, 100);
  } finally {
    await hanging.stop();
  }
});

Deno.test("tcpc ping --json gives attempt records and a summary; exit 0 if any connected", async () => {
  const server = await startBuiltin("discard");
  try {
    const result = await runCli([
      "ping",
      "localhost",
      String(server.port),
      "-4",
      "-n",
      "3",
      "-i",
      "10ms",
      "--json",
    ]);
    assert.equal(result.code, 0, result.err);
    const lines = result.out.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((r) => r.type), ["attempt", "attempt", "attempt", "summary"]);
    assert.deepEqual(lines.slice(0, 3).map((r) => r.seq), [1, 2, 3]);
    assert.ok(lines.slice(0, 3).every((r) => r.state === "open" && r.connectMs >= 0));
    const summary = lines[3];
    assert.equal(summary.address, `127.0.0.1:${server.port}`);
    assert.equal(summary.succeeded, 3);
    assert.ok(summary.minMs <= summary.avgMs && summary.avgMs <= summary.maxMs);
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc ping rejects bad input with exit 2 and an unknown host with exit 3", async (t) => {
  const usage = await runCli(["ping", "127.0.0.1"]);
  assert.equal(usage.code, 2);
  assert.match(usage.err, /missing HOST and PORT/);
  // The unknown name is looked up inside a namespace that resolves from files only.
  if (await skipWithoutNetns(t)) return;
  const dns = await runCliIsolated(["ping", "nonexistent.invalid", "80", "-n", "1"]);
  assert.equal(dns.code, 3, dns.err);
  assert.match(dns.err, /name resolution failed/);
});

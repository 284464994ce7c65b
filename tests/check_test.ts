import assert from "node:assert/strict";
import { checkTcp, tcpcCheck } from "./peers/check.ts";
import { freePort, startHanging, startRedis } from "./peers/servers.ts";
import { type ScriptAction, startScripted } from "./peers/scripted.ts";
import { promtool } from "./peers/data.ts";

/** Numbers differ from run to run; the shape must not. Our extra perfdata (tls, steps) goes. */
const mask = (line: string) =>
  line.replace(/ (?:tls|step\d+)=\S+/g, "").replace(/\d+(\.\d+)?/g, "N");

async function compare(theirs: string[], ours: string[], wantCode: number): Promise<string> {
  const real = await checkTcp(theirs);
  const mine = await tcpcCheck(ours);
  assert.equal(real.code, wantCode, `check_tcp: ${real.line}`);
  assert.equal(mine.code, wantCode, `tcpc check: ${mine.line}`);
  assert.equal(mask(mine.line), mask(real.line));
  return mine.line;
}

const hello: ScriptAction[] = [{ say: "hello\n" }];

Deno.test("runCheck() matches check_tcp on an open port", async () => {
  await using peer = await startScripted(hello);
  const p = String(peer.port);
  const line = await compare(["-H", "127.0.0.1", "-p", p], ["127.0.0.1", p], 0);
  assert.match(line, /^TCP OK - \d\.\d{3} second response time on 127\.0\.0\.1 port \d+\|time=/);
});

Deno.test("runCheck() matches check_tcp on an expected banner", async () => {
  await using peer = await startScripted(hello);
  const p = String(peer.port);
  const line = await compare(
    ["-H", "127.0.0.1", "-p", p, "-e", "hello"],
    ["127.0.0.1", p, "--expect", "hello"],
    0,
  );
  assert.match(line, / \[hello\]\|time=.* step1=/);
});

Deno.test("runCheck() matches check_tcp on a mismatch, with -M", async () => {
  await using peer = await startScripted(hello);
  const p = String(peer.port);
  await compare(
    ["-H", "127.0.0.1", "-p", p, "-e", "nope"],
    ["127.0.0.1", p, "--expect", "nope"],
    1,
  );
  const line = await compare(
    ["-H", "127.0.0.1", "-p", p, "-e", "nope", "-M", "crit"],
    ["127.0.0.1", p, "--expect", "nope", "--mismatch-state", "critical"],
    2,
  );
  assert.match(line, /^TCP CRITICAL - Unexpected response from host\/socket: hello\|/);
});

Deno.test("runCheck() matches check_tcp on a refused port, with -r", async () => {
  const p = String(freePort());
  await compare(["-H", "127.0.0.1", "-p", p], ["127.0.0.1", p], 2);
  await compare(
    ["-H", "127.0.0.1", "-p", p, "-r", "ok"],
    ["127.0.0.1", p, "--refused-state", "ok"],
    0,
  );
  await compare(
    ["-H", "127.0.0.1", "-p", p, "-r", "warn"],
    ["127.0.0.1", p, "--refused-state", "warning"],
    1,
  );
});

Deno.test("runCheck() matches check_tcp on a connect timeout", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const p = String(hanging.port);
  const line = await compare(
    ["-H", "127.0.0.1", "-p", p, "-t", "1"],
    ["127.0.0.1", p, "-w", "1s"],
    2,
  );
  assert.equal(line, "CRITICAL - Socket timeout after 1 seconds");
});

Deno.test("runCheck() matches check_tcp on a silent peer with an expect", async () => {
  await using peer = await startScripted([{ pauseMs: 10_000 }]);
  const p = String(peer.port);
  await compare(
    ["-H", "127.0.0.1", "-p", p, "-t", "1", "-e", "x"],
    ["127.0.0.1", p, "-t", "1s", "--expect", "x"],
    2,
  );
});

Deno.test("runCheck() matches check_tcp on slow responses (--warning, --critical)", async () => {
  await using peer = await startScripted(hello);
  const p = String(peer.port);
  await compare(
    ["-H", "127.0.0.1", "-p", p, "-w", "0.000001", "-c", "5"],
    ["127.0.0.1", p, "--warning", "0.000001", "--critical", "5"],
    1,
  );
  const line = await compare(
    ["-H", "127.0.0.1", "-p", p, "-w", "0.000001", "-c", "0.000002"],
    ["127.0.0.1", p, "--warning", "0.000001", "--critical", "0.000002"],
    2,
  );
  assert.match(line, /\|time=\d\.\d{6}s;0\.000001;0\.000002;0\.000000;10\.000000$/);
});

Deno.test("runCheck() matches check_tcp on a peer that closes without a byte", async () => {
  await using peer = await startScripted([]);
  const p = String(peer.port);
  await compare(
    ["-H", "127.0.0.1", "-p", p, "-e", "x"],
    ["127.0.0.1", p, "--expect", "x"],
    2,
  );
});

Deno.test("runCheck() labels a preset and names the failing step", async () => {
  await using redis = await startRedis();
  const p = String(redis.port);
  const ok = await tcpcCheck(["127.0.0.1", p, "--proto", "redis"]);
  assert.equal(ok.code, 0);
  assert.match(ok.line, /^REDIS OK - .* \[\+PONG\]\|time=\S+ step1=\S+ step2=\S+$/);
  const bad = await tcpcCheck([
    "127.0.0.1",
    p,
    "--proto",
    "redis",
    "--send",
    "NOPE\\r\\n",
    "--expect",
    "+OK",
    "-t",
    "300ms",
  ]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.line,
    /^REDIS WARNING - Unexpected response from host\/socket: -ERR unknown command .* at step 4 \(--expect "\+OK"\)\|/,
  );
});

Deno.test("runCheck() --format json carries step and received", async () => {
  await using redis = await startRedis();
  const p = String(redis.port);
  const { code, line } = await tcpcCheck([
    "127.0.0.1",
    p,
    "--send",
    "PING\\r\\n",
    "--expect",
    "+OK",
    "-t",
    "300ms",
    "--json",
  ]);
  assert.equal(code, 1);
  const record = JSON.parse(line);
  assert.equal(record.state, "WARNING");
  assert.equal(record.error.kind, "verify");
  assert.equal(record.error.step, 2);
  assert.equal(record.error.received, "+PONG\\r\\n");
  assert.equal(record.steps.length, 2);
});

Deno.test("runCheck() --format prometheus passes promtool for ok, refused and mismatch", async () => {
  await using redis = await startRedis();
  const p = String(redis.port);
  const runs = [
    ["127.0.0.1", p, "--proto", "redis"],
    ["127.0.0.1", String(freePort())],
    ["127.0.0.1", p, "--send", "PING\\r\\n", "--expect", "+OK", "-t", "300ms"],
  ];
  for (const args of runs) {
    const { line } = await tcpcCheck([...args, "--format", "prometheus"]);
    const { code, output } = await promtool(line + "\n");
    assert.equal(code, 0, output + line);
    assert.match(line, /^probe_success\{target="127\.0\.0\.1:\d+"\} [01]$/m);
  }
});

Deno.test("runCheck() gives UNKNOWN (3) for usage errors", async () => {
  const table: [string[], RegExp][] = [
    [[], /^TCP UNKNOWN - check: missing HOST$/],
    [["127.0.0.1"], /^TCP UNKNOWN - check: missing PORT/],
    [["127.0.0.1", "80", "--proto", "gopher"], /^TCP UNKNOWN - invalid --proto "gopher"/],
    [["127.0.0.1", "80", "--send-hex", "xyz"], /^TCP UNKNOWN - invalid --send-hex "xyz"/],
    [["127.0.0.1", "80", "--refused-state", "maybe"], /^TCP UNKNOWN - invalid --refused-state/],
    [["127.0.0.1", "80", "--format", "xml"], /^TCP UNKNOWN - invalid --format "xml"/],
    [["127.0.0.1", "80", "--bogus"], /^TCP UNKNOWN - check: unknown option '--bogus'/],
  ];
  for (const [args, want] of table) {
    const { code, line } = await tcpcCheck(args);
    assert.equal(code, 3, line);
    assert.match(line, want);
  }
});

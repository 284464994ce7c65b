/**
 * `tcpc probe` with ordered dialog steps and `--proto` presets, against real
 * peers on loopback: redis-server, scripted servers where the order matters,
 * binary steps, several targets at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";
import { freePort, startRedis } from "./peers/servers.ts";
import { type ScriptAction, startScripted } from "./peers/scripted.ts";
import { planProbe } from "../lib/cli/probe.ts";
import { parseConfig } from "../lib/cli/flags.ts";
import { STEP_FLAGS, STEP_TABLE } from "../lib/cli/steps.ts";
import type { ProbeRecord } from "../lib/report/probe_table.ts";

function records(out: string): ProbeRecord[] {
  return out.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

/** `host:p,p,p`: the same port `count` times, so one run has several targets. */
function many(port: number, count: number): string {
  return `127.0.0.1:${Array(count).fill(port).join(",")}`;
}

/** An SMTP-like server: each reply only after the command before it, in order. */
const ordered: ScriptAction[] = [
  { say: "220 ready\r\n" },
  { hear: "HELO", orElse: "503 bad sequence: HELO first\r\n" },
  { say: "250 hello\r\n" },
  { hear: "DATA", orElse: "503 bad sequence\r\n" },
  { say: "354 go on\r\n" },
];

Deno.test("STEP_TABLE is STEP_FLAGS as a flag table (help and README come from it)", () => {
  assert.deepEqual(parseConfig(STEP_TABLE), { ...STEP_FLAGS });
});

Deno.test("planProbe() keeps the steps in command-line order and the preset apart", async () => {
  const plan = await planProbe([
    "127.0.0.1:6379",
    "--expect",
    "a",
    "--proto",
    "redis",
    "--send-hex",
    "0d0a",
    "--expect-re",
    "^b",
  ]);
  assert.equal(plan.preset?.name, "redis");
  assert.deepEqual(plan.steps.map((s) => `${s.kind} ${s.text}`), [
    "expect a",
    "send-hex 0d0a",
    "expect-re ^b",
  ]);
  assert.deepEqual((await planProbe(["127.0.0.1:1"])).steps, []);
});

Deno.test("tcpc probe --proto redis answers PONG on several targets, and names a failed extra step", async () => {
  await using redis = await startRedis();
  const ok = await runCli(["probe", many(redis.port, 4), "--proto", "redis", "--json"]);
  assert.equal(ok.code, 0, ok.out + ok.err);
  const good = records(ok.out);
  assert.equal(good.length, 4);
  for (const record of good) {
    assert.equal(record.state, "open");
    assert.equal(record.reply, "+PONG\\r\\n");
    assert.equal(record.bytesSent, 6);
    assert.equal(record.step, null);
    assert.equal(record.received, null);
  }

  // Steps after --proto run after its dialog: step 3 and 4.
  const bad = await runCli([
    "probe",
    many(redis.port, 2),
    "--send",
    "NOPE\\r\\n",
    "--proto",
    "redis",
    "--expect",
    "+OK",
    "-w",
    "2s",
    "--json",
  ]);
  assert.equal(bad.code, 6, bad.out + bad.err);
  for (const record of records(bad.out)) {
    assert.equal(record.state, "mismatch");
    assert.equal(record.step, 4);
    assert.match(record.received ?? "", /^-ERR unknown command .*NOPE/);
    assert.equal(record.error?.kind, "verify");
    assert.match(
      record.error?.message ?? "",
      /^expect "127\.0\.0\.1:\d+": step 4 \(--expect "\+OK"\): expected "\+OK", got "-ERR unknown command .* within 2s$/,
    );
  }
});

Deno.test("tcpc probe runs a multi-step dialog in order on several targets at once", async () => {
  await using peer = await startScripted(ordered);
  const result = await runCli([
    "probe",
    many(peer.port, 5),
    "--expect",
    "220 ready\\r\\n",
    "--send",
    "HELO me\\r\\n",
    "--expect-re",
    "^250 ",
    "--send",
    "DATA\\r\\n",
    "--expect-hex",
    "333534",
    "--json",
  ]);
  assert.equal(result.code, 0, result.out + result.err);
  const found = records(result.out);
  assert.deepEqual(found.map((r) => r.state), Array(5).fill("open"));
  for (const record of found) {
    assert.equal(record.bytesSent, "HELO me\r\nDATA\r\n".length);
    assert.equal(record.reply, "220 ready\\r\\n250 hello\\r\\n354 go on\\r\\n");
  }
});

Deno.test("tcpc probe in the wrong order fails and names the step, what it got and why", async () => {
  await using peer = await startScripted(ordered);
  const args = [
    "probe",
    many(peer.port, 3),
    "--expect",
    "220 ready\\r\\n",
    "--send",
    "DATA\\r\\n",
    "--expect",
    "250",
    "-w",
    "5s",
  ];
  const result = await runCli([...args, "--json"]);
  assert.equal(result.code, 6, result.out + result.err);
  for (const record of records(result.out)) {
    assert.equal(record.state, "mismatch");
    assert.equal(record.step, 3);
    // What step 3 received: the banner was step 1's.
    assert.equal(record.received, "503 bad sequence: HELO first\\r\\n");
    assert.match(
      record.error?.message ?? "",
      /step 3 \(--expect "250"\): expected "250", got "503 bad sequence: HELO first\\r\\n" before the peer closed$/,
    );
  }
  const text = await runCli(args);
  assert.equal(text.code, 6, text.err);
  const lines = text.out.trim().split("\n");
  assert.equal(lines.length, 5);
  assert.match(
    lines[1] ?? "",
    /^127\.0\.0\.1:\d+\s+mismatch\s+\S+\s+expect ".*step 3 \(--expect "250"\)/,
  );
  assert.match(lines[4] ?? "", /: 3 mismatch$/);
});

Deno.test("tcpc probe --send-hex/--expect-hex send exactly the bytes, nothing appended", async () => {
  // The peer reads exactly the 8 bytes of a PostgreSQL SSLRequest, then wants
  // a line: a newline appended to the send would be taken for it.
  const sslRequest = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
  await using peer = await startScripted([
    { hearBytes: sslRequest, orElse: "wrong bytes\n" },
    { say: new Uint8Array([0x4e, 0x00, 0xff]) },
    { hear: "next", orElse: "E: not next\n" },
    { say: "ok\n" },
  ]);
  const result = await runCli([
    "probe",
    many(peer.port, 3),
    "--send-hex",
    "00000008 04d2162f",
    "--expect-hex",
    "4e:00:ff",
    "--send",
    "next\\n",
    "--expect",
    "ok\\n",
    "-w",
    "5s",
    "--json",
  ]);
  assert.equal(result.code, 0, result.out + result.err);
  for (const record of records(result.out)) {
    assert.equal(record.state, "open", record.error?.message);
    assert.equal(record.bytesSent, 8 + 5);
    // `reply` is shown as UTF-8 text: the lone 0xff byte is U+FFFD.
    assert.equal(record.reply, "N\\x00\ufffdok\\n");
  }

  const wrong = await runCli([
    "probe",
    `127.0.0.1:${peer.port}`,
    "--send-hex",
    "0000000804d2162f",
    "--expect-hex",
    "53",
    "-w",
    "1s",
    "--json",
  ]);
  assert.equal(wrong.code, 6, wrong.out + wrong.err);
  const [record] = records(wrong.out);
  assert.equal(record?.step, 2);
  assert.equal(record?.received, "N\\x00\ufffd");
  assert.match(record?.error?.message ?? "", /step 2 \(--expect-hex "53"\): expected hex "53"/);
});

Deno.test("tcpc probe gives each step the whole -w, from the step's start", async () => {
  // Three replies 700 ms apart: 2.1 s in all, more than -w, but each step
  // waits 700 ms, well within it.
  await using peer = await startScripted([
    { say: "220 ready\r\n" },
    { pauseMs: 700 },
    { say: "one\r\n" },
    { pauseMs: 700 },
    { say: "two\r\n" },
    { pauseMs: 700 },
    { say: "three\r\n" },
    { pauseMs: 10_000 },
  ]);
  // Each expect takes its line up to the end: the next step starts empty.
  const steps = [
    "--expect",
    "220 ready\\r\\n",
    "--expect",
    "one\\r\\n",
    "--expect",
    "two\\r\\n",
    "--expect",
    "three\\r\\n",
  ];
  const ok = await runCli(["probe", `127.0.0.1:${peer.port}`, ...steps, "-w", "1.8s", "--json"]);
  assert.equal(ok.code, 0, ok.out + ok.err);
  assert.ok((records(ok.out)[0]?.timings.totalMs ?? 0) > 1800, ok.out);

  const silent = await runCli([
    "probe",
    `127.0.0.1:${peer.port}`,
    ...steps,
    "--expect",
    "four",
    "-w",
    "1.8s",
    "--json",
  ]);
  assert.equal(silent.code, 6, silent.out + silent.err);
  const [record] = records(silent.out);
  assert.equal(record?.step, 5);
  assert.equal(record?.received, "");
  assert.match(
    record?.error?.message ?? "",
    /step 5 \(--expect "four"\): expected "four", got nothing within 1\.8s$/,
  );
});

Deno.test("tcpc probe keeps bytes after a match for the next step, and bounds a later regex", async () => {
  // Banner and the next reply in one segment: the second step finds its reply
  // in what the first left over.
  await using peer = await startScripted([
    { say: "220 ready\r\n250 ok\r\n" },
    { hear: "go" },
    { say: "a".repeat(34) + "!" },
    { pauseMs: 10_000 },
  ]);
  const result = await runCli(
    [
      "probe",
      many(peer.port, 2),
      "--expect-re",
      "^220 [^\\n]*\\n",
      "--expect",
      "250 ok\\r\\n",
      "--send",
      "go\\n",
      "--expect-re",
      "^(a+)+$",
      // Generous: the first --expect-re starts the matcher thread, slow under --coverage.
      "-w",
      "3s",
      "--json",
    ],
    { killAfterMs: 30_000 },
  );
  assert.equal(result.code, 6, result.out + result.err);
  for (const record of records(result.out)) {
    assert.equal(record.state, "mismatch");
    assert.equal(record.step, 4);
    assert.equal(record.received, "a".repeat(34) + "!");
    assert.match(
      record.error?.message ?? "",
      /step 4 \(--expect-re "\^\(a\+\)\+\$"\): expected \/\^\(a\+\)\+\$\/, got "a{34}!" \(the match took longer than 3s on 35 bytes: too much backtracking\)$/,
    );
  }
  // Generous: bounded by -w per step (1 s), not by the regex (minutes).
  assert.ok(result.ms < 20_000, `took ${result.ms} ms`);
});

Deno.test("tcpc probe --format prometheus labels the failed step", async () => {
  await using peer = await startScripted(ordered);
  const closed = freePort();
  const result = await runCli([
    "probe",
    `127.0.0.1:${peer.port},${closed}`,
    "--expect",
    "220",
    "--send",
    "DATA\\r\\n",
    "--expect",
    "250",
    "-w",
    "5s",
    "--format",
    "prometheus",
  ]);
  assert.equal(result.code, 1, result.out + result.err);
  assert.match(
    result.out,
    new RegExp(
      `probe_failure_info\\{target="127\\.0\\.0\\.1:${peer.port}",phase="dialog",reason="verify",step="3"\\} 1`,
    ),
  );
  assert.match(result.out, /probe_failed_due_to_regex\{target="127\.0\.0\.1:\d+"\} 1/);
});

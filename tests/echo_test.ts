import assert from "node:assert/strict";
import { EchoState } from "../lib/net/echo_state.ts";
import { planEcho } from "../lib/cli/echo.ts";
import { UsageError } from "../lib/errors.ts";
import { cleanStderr, runCli, spawnCli } from "./peers/cli.ts";
import { startBuiltin, startHanging, startRedis, startSocat } from "./peers/servers.ts";
import { startMisbehavingEcho } from "./peers/corrupt_echo.ts";

const enc = (text: string) => new TextEncoder().encode(text);

// --- EchoState: the per-connection logic, no I/O ---

Deno.test("EchoState.receive() completes replies split across chunks", () => {
  const state = new EchoState({ messages: [enc("data1\n"), enc("data2\n")] });
  assert.deepEqual(state.takeBatch(10), enc("data1\n"));
  assert.equal(state.takeBatch(10), null, "pipeline 1: one message in flight");
  let r = state.receive(enc("dat"), 11);
  assert.deepEqual(r.rttsMs, []);
  assert.equal(state.awaitingSince, 10);
  r = state.receive(enc("a1\n"), 12.5);
  assert.deepEqual(r.rttsMs, [2.5]);
  assert.deepEqual(state.takeBatch(20), enc("data2\n"));
  r = state.receive(enc("data2\n"), 21);
  assert.deepEqual(r.rttsMs, [1]);
  assert.equal(state.done, true);
  assert.equal(state.bytesSent, 12);
  assert.equal(state.bytesReceived, 12);
});

Deno.test("EchoState.receive() records RTTs into the rtt sink and still finds mismatches", () => {
  const seen: number[] = [];
  const state = new EchoState({
    messages: [enc("ab")],
    count: 3,
    pipeline: 3,
    rtt: { recordMs: (ms) => seen.push(ms) },
  });
  assert.deepEqual(state.takeBatch(1), enc("ababab"));
  const r = state.receive(enc("abab"), 4);
  assert.deepEqual(r.rttsMs, [], "the sink took them");
  assert.deepEqual(seen, [3, 3]);
  assert.equal(state.replied, 2);
  const bad = state.receive(enc("aX"), 5);
  assert.deepEqual(bad.mismatch, { message: 3, offset: 1, expected: 0x62, got: 0x58 });
  assert.deepEqual(seen, [3, 3], "no RTT for a reply that differs");
});

Deno.test("EchoState.receive() finds the first differing byte of long replies, aligned or not", () => {
  const message = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
  for (const shift of [0, 1, 4]) {
    // The chunk sits at `shift` bytes into its buffer: aligned (0, 4) or not (1).
    for (const split of [64, 5, 16, 40]) {
      for (let bad = 0; bad < 64; bad++) {
        const state = new EchoState({ messages: [message] });
        state.takeBatch(0);
        const backing = new Uint8Array(64 + shift);
        backing.set(message, shift);
        backing[shift + bad] = message[bad]! ^ 0x40;
        const reply = backing.subarray(shift);
        const first = state.receive(reply.subarray(0, split), 1);
        const r = first.mismatch ?? state.receive(reply.subarray(split), 2).mismatch;
        assert.deepEqual(r, {
          message: 1,
          offset: bad,
          expected: message[bad],
          got: message[bad]! ^ 0x40,
        }, `shift ${shift}, split ${split}, bad ${bad}`);
      }
    }
    const state = new EchoState({ messages: [message], count: 2, pipeline: 2 });
    state.takeBatch(0);
    const backing = new Uint8Array(128 + shift);
    backing.set(message, shift);
    backing.set(message, shift + 64);
    assert.deepEqual(state.receive(backing.subarray(shift), 3).rttsMs, [3, 3]);
  }
});

Deno.test("EchoState.receive() names the message and first differing byte", () => {
  const state = new EchoState({ messages: [enc("hello\n")], count: 3 });
  state.takeBatch(0);
  state.receive(enc("hello\n"), 1);
  state.takeBatch(2);
  const r = state.receive(enc("helXo\n"), 3);
  assert.deepEqual(r.mismatch, { message: 2, offset: 3, expected: 0x6c, got: 0x58 });
});

Deno.test("EchoState.receive() checks --expect replies instead of the message", () => {
  const state = new EchoState({ messages: [enc("PING\r\n")], expect: enc("+PONG\r\n"), count: 2 });
  state.takeBatch(0);
  assert.deepEqual(state.receive(enc("+PONG\r\n"), 1).rttsMs, [1]);
  state.takeBatch(1);
  const r = state.receive(enc("-ERR\r\n"), 2);
  assert.deepEqual(r.mismatch, { message: 2, offset: 0, expected: 0x2b, got: 0x2d });
});

Deno.test("EchoState.takeBatch() fills the pipeline window in one write", () => {
  const state = new EchoState({ messages: [enc("a"), enc("bb")], count: 5, pipeline: 3 });
  assert.deepEqual(state.takeBatch(0), enc("abba"));
  assert.equal(state.sent, 3);
  assert.equal(state.takeBatch(0), null);
  // Two replies free two slots; only two messages are left.
  assert.deepEqual(state.receive(enc("abb"), 1).rttsMs, [1, 1]);
  assert.deepEqual(state.takeBatch(2), enc("bba"));
  assert.equal(state.takeBatch(2), null);
  assert.deepEqual(state.receive(enc("abba"), 4).rttsMs, [4, 2, 2]);
  assert.equal(state.done, true);
});

Deno.test("EchoState.takeBatch() copies at most 1 MiB into a batch and sends a large message alone", () => {
  // Before: the whole window (size x pipeline) was built as one buffer.
  const small = new Uint8Array(1024).fill(0x61);
  const state = new EchoState({ messages: [small], count: 4096, pipeline: 4096 });
  const first = state.takeBatch(0);
  assert.equal(first?.length, 1024 * 1024);
  assert.equal(state.sent, 1024);
  assert.equal(state.takeBatch(0)?.length, 1024 * 1024);
  assert.equal(state.sent, 2048);

  const big = new Uint8Array(4 * 1024 * 1024);
  const large = new EchoState({ messages: [big], count: 8, pipeline: 8 });
  assert.equal(large.takeBatch(0), big, "a message over 1 MiB goes out as it is, uncopied");
  assert.equal(large.sent, 1);
  assert.equal(large.takeBatch(0), big);
  assert.equal(large.sent, 2);
});

Deno.test("EchoState.receive() counts bytes after the last reply as leftover", () => {
  const state = new EchoState({ messages: [enc("x\n")] });
  state.takeBatch(0);
  const r = state.receive(enc("x\nextra"), 1);
  assert.deepEqual(r.rttsMs, [1]);
  assert.equal(r.unexpected, 5);
  assert.equal(state.leftover, 5);
  assert.equal(state.done, true);
});

Deno.test("EchoState.stop() ends a --duration run after the replies in flight", () => {
  const state = new EchoState({ messages: [enc("m")], count: Infinity, pipeline: 2 });
  state.takeBatch(0);
  state.stop();
  assert.equal(state.done, false);
  assert.equal(state.takeBatch(1), null);
  state.receive(enc("mm"), 2);
  assert.equal(state.done, true);
});

// --- planEcho: flags, validated before any socket opens ---

Deno.test("planEcho() defaults to the recipe's two messages on one connection", async () => {
  const plan = await planEcho(["127.0.0.1", "7"]);
  assert.deepEqual(plan.messages, [enc("data1\n"), enc("data2\n")]);
  assert.equal(plan.count, 2);
  assert.equal(plan.connections, 1);
  assert.equal(plan.pipeline, 1);
  assert.equal(plan.replyTimeoutMs, 10_000);
  assert.equal(plan.expect, undefined);
});

Deno.test("planEcho() reads every flag", async () => {
  const plan = await planEcho([
    "[::1]",
    "6379",
    "-m",
    "PING\\r\\n",
    "--expect",
    "+PONG\\r\\n",
    "-c",
    "50",
    "--duration",
    "2s",
    "--pipeline",
    "4",
    "-w",
    "1s",
    "-t",
    "500ms",
    "--deadline",
    "1m",
    "-6",
    "--json",
    "-vv",
  ]);
  assert.equal(plan.host, "::1");
  assert.deepEqual(plan.messages, [enc("PING\r\n")]);
  assert.deepEqual(plan.expect, enc("+PONG\r\n"));
  assert.equal(plan.count, Infinity);
  assert.equal(plan.durationMs, 2000);
  assert.equal(plan.connections, 50);
  assert.equal(plan.pipeline, 4);
  assert.equal(plan.connectTimeoutMs, 1000);
  assert.equal(plan.replyTimeoutMs, 500);
  assert.equal(plan.deadlineMs, 60_000);
  assert.equal(plan.family, 6);
  assert.equal(plan.json, true);
  assert.equal(plan.verbosity, 2);
});

Deno.test("planEcho() makes distinct random payloads for --size", async () => {
  const plan = await planEcho(["127.0.0.1", "7", "--size", "64", "-n", "1000"]);
  assert.equal(plan.source, "size");
  assert.equal(plan.count, 1000);
  assert.equal(plan.messages.length, 16);
  assert.ok(plan.messages.every((m) => m.length === 64));
  assert.notDeepEqual(plan.messages[0], plan.messages[1]);
});

Deno.test("planEcho() rejects bad input with a UsageError", async () => {
  const cases: [string[], RegExp][] = [
    [["127.0.0.1"], /missing HOST and PORT/],
    [["127.0.0.1", "0"], /invalid port "0"/],
    [["127.0.0.1", "7", "-m", "a", "--size", "8"], /--message and --size/],
    [["127.0.0.1", "7", "-n", "5", "--duration", "1s"], /--count and --duration/],
    [["127.0.0.1", "7", "-m", ""], /invalid --message ""/],
    [["127.0.0.1", "7", "--expect", ""], /invalid --expect ""/],
    [["127.0.0.1", "7", "-m", "\\q"], /invalid escape in --message/],
    [["127.0.0.1", "7", "-c", "0"], /--connections/],
    [["127.0.0.1", "7", "-n", "-1"], /--count/],
    [["127.0.0.1", "7", "--pipeline", "x"], /--pipeline/],
    [["127.0.0.1", "7", "--size", "0"], /--size/],
    [["127.0.0.1", "7", "-t", "0"], /--timeout "0"/],
    [["127.0.0.1", "7", "--duration", "0"], /--duration "0"/],
    [["127.0.0.1", "7", "-t", "soon"], /invalid duration "soon" for --timeout/],
    [["127.0.0.1", "7", "-4", "-6"], /-4 and -6/],
    [["127.0.0.1", "7", "--bogus"], /unknown option '--bogus'/],
    [["::1", "7", "-4"], /conflicting -4 and host "::1": an IPv6 address/],
    [["127.0.0.1", "7", "-6"], /conflicting -6 and host "127.0.0.1": an IPv4 address/],
    [
      ["127.0.0.1", "7", "--size", "268435456", "--pipeline", "65536"],
      /^--size 268435456 with --pipeline 65536 puts 17592186044416 bytes in flight per connection: at most 1073741824 \(1 GiB\)$/,
    ],
    [
      ["127.0.0.1", "7", "--size", "1048577", "--pipeline", "1024"],
      /--size 1048577 with --pipeline 1024 puts 1073742848 bytes/,
    ],
  ];
  for (const [argv, message] of cases) {
    await assert.rejects(() => planEcho(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${argv.join(" ")}: ${err}`);
      assert.match(err.message, message);
      return true;
    });
  }
});

// --- tcpc echo against real peers ---

interface EchoJson {
  load: { count: number | null; pipeline: number };
  connections: { attempted: number; connected: number; ok: number; failed: number };
  messages: { sent: number; verified: number };
  bytes: { sent: number; received: number; leftover: number; leftoverConnections: number };
  rttUs: { count: number; minUs: number | null; p50Us: number | null; maxUs: number | null };
  connectUs: { count: number };
  errors: Record<string, number>;
  mismatch: null | Record<string, number>;
  error: null | { kind: string; message: string; timer?: string };
}

function parseJson(out: string): EchoJson {
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 1, `one JSON line on stdout, got: ${out}`);
  return JSON.parse(lines[0] ?? "");
}

Deno.test("tcpc echo verifies the recipe's two messages against the built-in echo server", async () => {
  await using peer = await startBuiltin("echo");
  const r = await runCli(["echo", "127.0.0.1", String(peer.port), "-vv", "-t", "5s"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^echo 127\.0\.0\.1:\d+: 1 connection, 1 connected, 1 ok, 0 failed$/m);
  assert.match(r.out, /^messages: +2 sent, 2 verified$/m);
  assert.match(r.out, /^bytes: +12 sent, 12 received$/m);
  assert.match(r.out, /^rtt: +min \S+ +p50 \S+ +p90 \S+ +p99 \S+ +max \S+ +\(n=2\)$/m);
  // -vv shows the recipe's sent:/recv: lines, escaped, in order, then the shutdown.
  const trace = r.err.split("\n").filter((l) => /sent:|recv:|half-close|EOF/.test(l));
  assert.match(trace[0] ?? "", /conn 1: sent: 6 bytes "data1\\n"$/);
  assert.match(trace[1] ?? "", /conn 1: recv: 6 bytes "data1\\n"$/);
  assert.match(trace[2] ?? "", /conn 1: sent: 6 bytes "data2\\n"$/);
  assert.match(trace[3] ?? "", /conn 1: recv: 6 bytes "data2\\n"$/);
  assert.match(trace[4] ?? "", /all 2 replies verified: half-close, reading to EOF$/);
  assert.match(trace[5] ?? "", /conn 1: closed after EOF$/);
});

Deno.test("tcpc echo checks random payloads over many connections through socat EXEC:cat", async () => {
  await using peer = await startSocat("EXEC:cat");
  const r = await runCli([
    "echo",
    "127.0.0.1",
    String(peer.port),
    "--size",
    "64",
    "-n",
    "20",
    "-c",
    "5",
    "--json",
    "-t",
    "10s",
  ]);
  assert.equal(r.code, 0, r.err);
  const j = parseJson(r.out);
  assert.deepEqual(j.connections, { attempted: 5, connected: 5, ok: 5, failed: 0 });
  assert.deepEqual(j.messages, { sent: 100, verified: 100 });
  assert.deepEqual(j.bytes, { sent: 6400, received: 6400, leftover: 0, leftoverConnections: 0 });
  assert.equal(j.rttUs.count, 100);
  assert.equal(j.connectUs.count, 5);
  assert.ok((j.rttUs.minUs ?? -1) >= 0 && (j.rttUs.maxUs ?? 0) >= (j.rttUs.p50Us ?? Infinity));
  assert.deepEqual(j.errors, {});
  assert.equal(j.error, null);
});

Deno.test("tcpc echo checks redis replies with --expect, and catches a wrong one", async () => {
  await using peer = await startRedis();
  const port = String(peer.port);
  const ok = await runCli([
    "echo",
    "127.0.0.1",
    port,
    "-m",
    "PING\\r\\n",
    "--expect",
    "+PONG\\r\\n",
    "-c",
    "3",
    "-n",
    "10",
    "--json",
  ]);
  assert.equal(ok.code, 0, ok.err);
  const j = parseJson(ok.out);
  assert.deepEqual(j.messages, { sent: 30, verified: 30 });
  assert.deepEqual(j.bytes, { sent: 180, received: 210, leftover: 0, leftoverConnections: 0 });
  const bad = await runCli([
    "echo",
    "127.0.0.1",
    port,
    "-m",
    "PING\\r\\n",
    "--expect",
    "+PANG\\r\\n",
  ]);
  assert.equal(bad.code, 6, bad.err);
  assert.match(
    bad.err,
    /^tcpc: verify "127\.0\.0\.1:\d+": connection 1, message 1: reply differs at byte 2: expected 0x41 'A', got 0x4f 'O'$/m,
  );
});

Deno.test("tcpc echo names the connection, message and byte a corrupting server flipped", async () => {
  // Byte 8 of the echo stream is byte 2 of the second message ("data2\n"[2] = "t").
  await using peer = startMisbehavingEcho({ flipAt: 8 });
  const r = await runCli(["echo", "127.0.0.1", String(peer.port), "--json", "-t", "5s"]);
  assert.equal(r.code, 6, r.err);
  const j = parseJson(r.out);
  assert.deepEqual(j.mismatch, { connection: 1, message: 2, offset: 2, expected: 0x74, got: 0x8b });
  assert.deepEqual(j.messages, { sent: 2, verified: 1 });
  assert.deepEqual(j.errors, { verify: 1 });
  assert.equal(j.error?.kind, "verify");
  assert.match(
    r.err,
    /^tcpc: verify "127\.0\.0\.1:\d+": connection 1, message 2: reply differs at byte 2: expected 0x74 't', got 0x8b$/m,
  );
});

Deno.test("tcpc echo reports a server that closes before the reply is complete", async () => {
  await using peer = startMisbehavingEcho({ closeAfter: 3 });
  const r = await runCli(["echo", "127.0.0.1", String(peer.port), "-t", "5s"]);
  assert.equal(r.code, 1, r.err);
  assert.match(
    r.err,
    /^tcpc: read "127\.0\.0\.1:\d+": connection 1, message 1: peer closed the connection before the reply was complete \(0 of 2 replies verified\)$/m,
  );
  assert.match(r.out, /^errors: +closed 1$/m);
});

Deno.test("tcpc echo exits 4 naming the connection and message whose reply never comes", async () => {
  await using peer = await startBuiltin("discard");
  const r = await runCli(["echo", "127.0.0.1", String(peer.port), "-c", "2", "-t", "300ms"]);
  assert.equal(r.code, 4, r.err);
  assert.match(
    r.err,
    /^tcpc: read "127\.0\.0\.1:\d+": connection [12], message 1: no complete reply within 300ms \(--timeout; 0 replies verified\)$/m,
  );
  assert.match(r.out, /^errors: +timeout 2$/m);
});

Deno.test("tcpc echo keeps pipelined replies in order, several messages per write", async () => {
  await using peer = await startBuiltin("echo");
  const r = await runCli([
    "echo",
    "127.0.0.1",
    String(peer.port),
    "-m",
    "a\\n",
    "-m",
    "bb\\n",
    "-m",
    "ccc\\n",
    "--pipeline",
    "3",
    "-n",
    "30",
    "-vv",
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const j = parseJson(r.out);
  assert.equal(j.load.pipeline, 3);
  assert.deepEqual(j.messages, { sent: 30, verified: 30 });
  // The first write carries the whole window: three messages in one write.
  assert.match(r.err, /conn 1: sent: 9 bytes "a\\nbb\\nccc\\n"/);
});

Deno.test("tcpc echo reports bytes the peer sends after the last reply", async () => {
  await using peer = await startSocat("SYSTEM:'cat; printf extra'");
  const r = await runCli(["echo", "127.0.0.1", String(peer.port), "--json", "-t", "5s"]);
  assert.equal(r.code, 0, r.err);
  const j = parseJson(r.out);
  assert.deepEqual(j.bytes, { sent: 12, received: 17, leftover: 5, leftoverConnections: 1 });
  const text = await runCli(["echo", "127.0.0.1", String(peer.port), "-t", "5s"]);
  assert.match(text.out, /^leftover: +5 bytes after the last reply on 1 connection/m);
});

Deno.test("tcpc echo runs for --duration, then finishes the replies in flight", async () => {
  await using peer = await startBuiltin("echo");
  const r = await runCli([
    "echo",
    "127.0.0.1",
    String(peer.port),
    "--duration",
    "300ms",
    "-c",
    "4",
    "--pipeline",
    "2",
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const j = parseJson(r.out);
  assert.equal(j.load.count, null);
  assert.equal(j.connections.ok, 4);
  assert.ok(j.messages.verified > 4, `verified ${j.messages.verified}`);
  assert.equal(j.messages.sent, j.messages.verified);
});

Deno.test("tcpc echo stops at --deadline with exit 4 and a partial report", async () => {
  await using peer = await startBuiltin("discard");
  const r = await runCli([
    "echo",
    "127.0.0.1",
    String(peer.port),
    "--deadline",
    "300ms",
    "--json",
  ]);
  assert.equal(r.code, 4, r.err);
  const j = parseJson(r.out);
  assert.equal(j.error?.timer, "deadline");
  assert.deepEqual(j.errors, { timeout: 1 });
  assert.match(r.err, /^tcpc: run: took longer than 300ms \(--deadline\)$/m);
});

Deno.test("tcpc echo counts refused connections by kind and exits 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close(); // nothing listens there now
  const r = await runCli(["echo", "127.0.0.1", String(port), "-c", "3", "--json"]);
  assert.equal(r.code, 1, r.err);
  const j = parseJson(r.out);
  assert.deepEqual(j.connections, { attempted: 3, connected: 0, ok: 0, failed: 3 });
  assert.deepEqual(j.errors, { refused: 3 });
  assert.match(
    r.err,
    /^tcpc: connect "127\.0\.0\.1:\d+": connection \d: connection refused$/m,
  );
});

Deno.test("tcpc echo rejects bad flags with exit 2 before any socket opens", async () => {
  const r = await runCli(["echo", "127.0.0.1", "7", "--pipeline", "0"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /^tcpc: invalid value "0" for --pipeline: must be a whole number 1-65536$/m);
  assert.equal(r.out, "");
});

Deno.test("tcpc echo refuses a 16 TiB window with exit 2 naming both values, at once", async () => {
  // Before: "Array buffer allocation failed", exit 1, no report.
  const r = await runCli(
    ["echo", "127.0.0.1", "7", "--size", "268435456", "--pipeline", "65536"],
    { killAfterMs: 30_000 },
  );
  assert.equal(r.code, 2, r.err);
  assert.equal(
    r.err,
    "tcpc: --size 268435456 with --pipeline 65536 puts 17592186044416 bytes in flight per connection: at most 1073741824 (1 GiB)\n",
  );
  assert.equal(r.out, "");
});

Deno.test("planEcho() accepts a window of exactly 1 GiB", async () => {
  const plan = await planEcho(["127.0.0.1", "7", "--size", "1048576", "--pipeline", "1024"]);
  assert.equal(plan.pipeline, 1024);
  assert.equal(plan.messages[0]?.length, 1048576);
});

Deno.test("tcpc echo gives up connecting after -w with exit 4", async () => {
  await using peer = await startHanging();
  await peer.fill();
  const r = await runCli(["echo", "127.0.0.1", String(peer.port), "-w", "300ms", "--json"]);
  assert.equal(r.code, 4, r.err);
  const j = parseJson(r.out);
  assert.equal(j.error?.timer, "connect");
  assert.deepEqual(j.connections, { attempted: 1, connected: 0, ok: 0, failed: 1 });
  assert.match(r.err, /^tcpc: connect "127\.0\.0\.1:\d+": connection 1: timed out after 300ms$/m);
});

Deno.test("tcpc echo prints its report and exits 130 on SIGINT", async () => {
  await using peer = await startBuiltin("discard");
  const child = spawnCli(["echo", "127.0.0.1", String(peer.port), "-v", "--json", "-t", "30s"]);
  const stdout = child.stdout.text();
  const decoder = new TextDecoder();
  let err = "";
  const reader = child.stderr.getReader();
  try {
    // Interrupt once the connection is open and waiting for a reply.
    const until = performance.now() + 20_000;
    while (!err.includes("connected to") && performance.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      err += decoder.decode(value, { stream: true });
    }
    child.kill("SIGINT");
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      err += decoder.decode(part.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  const status = await child.status;
  assert.equal(status.code, 130, cleanStderr(err));
  const j = parseJson(await stdout);
  assert.equal(j.error?.kind, "interrupted");
  assert.deepEqual(j.connections, { attempted: 1, connected: 1, ok: 0, failed: 1 });
  assert.match(cleanStderr(err), /^tcpc: interrupted by SIGINT$/m);
});

import assert from "node:assert/strict";
import {
  DialogNetError,
  type DialogStep,
  DialogVerifyError,
  runDialog,
} from "../lib/net/dialog.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { exitCodeFor } from "../lib/errors.ts";
import { startRedis } from "./peers/servers.ts";
import { startScripted } from "./peers/scripted.ts";

const enc = new TextEncoder();
const send = (text: string): DialogStep => ({ kind: "send", bytes: enc.encode(text), text });
const expect = (text: string): DialogStep => ({ kind: "expect", bytes: enc.encode(text), text });
const sendHex = (hex: string): DialogStep => ({
  kind: "send-hex",
  bytes: Uint8Array.fromHex(hex),
  text: hex,
});
const expectHex = (hex: string): DialogStep => ({
  kind: "expect-hex",
  bytes: Uint8Array.fromHex(hex),
  text: hex,
});
const expectRe = (re: RegExp): DialogStep => ({ kind: "expect-re", re, text: re.source });

async function connect(port: number): Promise<TcpConn> {
  return new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
}

async function dialog(port: number, steps: DialogStep[], stepTimeoutMs = 5000, maxBytes?: number) {
  const conn = await connect(port);
  try {
    return await runDialog(conn, {
      steps,
      address: `127.0.0.1:${port}`,
      stepTimeoutMs,
      ...(maxBytes === undefined ? {} : { maxBytes }),
    });
  } finally {
    conn.close();
  }
}

Deno.test("runDialog() talks to a real redis-server", async () => {
  await using redis = await startRedis();
  const result = await dialog(redis.port, [
    send("PING\r\n"),
    expect("+PONG\r\n"),
    send("ECHO hello\r\n"),
    expectRe(/^\$5\r\nhello\r\n/),
  ]);
  assert.equal(result.error, null);
  assert.ok(result.ok);
  assert.deepEqual(result.steps.map((s) => [s.step, s.kind, s.ok]), [
    [1, "send", true],
    [2, "expect", true],
    [3, "send", true],
    [4, "expect-re", true],
  ]);
  assert.equal(result.steps[1]?.received, "+PONG\\r\\n");
  assert.ok(result.firstByteMs !== null && result.firstByteMs >= 0);
});

Deno.test("runDialog() names the failing step and quotes what redis said", async () => {
  await using redis = await startRedis();
  const result = await dialog(redis.port, [send("PONG\r\n"), expect("+PONG")], 500);
  assert.ok(result.error instanceof DialogVerifyError);
  assert.equal(result.error.step, 2);
  assert.equal(result.error.stepText, '--expect "+PONG"');
  assert.match(result.error.received, /^-ERR unknown command/);
  assert.match(result.error.message, /^dialog "127\.0\.0\.1:\d+": step 2 \(--expect "\+PONG"\)/);
  assert.match(result.error.message, /received "-ERR unknown command/);
  assert.equal(exitCodeFor(result.error), 6);
  assert.deepEqual(result.steps.map((s) => s.ok), [true, false]);
});

const ordered = [
  { say: "READY\r\n" },
  { hear: "HELLO", orElse: "ERR say HELLO first\r\n" },
  { say: "HI\r\n" },
  { hear: "DATA", orElse: "ERR want DATA\r\n" },
  { say: "OK\r\n" },
];

Deno.test("runDialog() runs steps in order against a server where order matters", async () => {
  await using peer = await startScripted(ordered);
  const right = await dialog(peer.port, [
    expect("READY"),
    send("HELLO\r\n"),
    expect("HI"),
    send("DATA\r\n"),
    expect("OK\r\n"),
  ]);
  assert.equal(right.error, null);
  const wrong = await dialog(peer.port, [
    expect("READY"),
    send("DATA\r\n"),
    expect("HI"),
    send("HELLO\r\n"),
    expect("OK\r\n"),
  ]);
  assert.ok(wrong.error instanceof DialogVerifyError);
  assert.equal(wrong.error.step, 3);
  assert.equal(wrong.error.received, "\\r\\nERR say HELLO first\\r\\n");
  assert.match(wrong.error.message, /step 3 \(--expect "HI"\): no match before the peer closed/);
});

Deno.test("runDialog() carries bytes after a match to the next expect", async () => {
  await using peer = await startScripted([{ say: "ONE\r\nTWO\r\n" }, { pauseMs: 5000 }]);
  const result = await dialog(peer.port, [expect("ONE\r\n"), expect("TWO\r\n")]);
  assert.equal(result.error, null);
  assert.equal(result.steps[0]?.received, "ONE\\r\\n");
  assert.equal(result.steps[1]?.received, "TWO\\r\\n");
});

Deno.test("runDialog() sends binary steps exactly, with no newline added", async () => {
  await using peer = await startScripted([
    { hearBytes: Uint8Array.of(0x01, 0x02, 0x00, 0xff), orElse: "X" },
    { say: Uint8Array.of(0xaa, 0x00) },
    { hearBytes: Uint8Array.of(0x04), orElse: "X" },
    { say: Uint8Array.of(0xbb) },
  ]);
  const result = await dialog(peer.port, [
    sendHex("010200ff"),
    expectHex("aa00"),
    sendHex("04"),
    expectHex("bb"),
  ]);
  assert.equal(result.error, null);
  // The same dialog with a newline after the first send is refused by the peer.
  const withNewline = await dialog(peer.port, [
    sendHex("010200ff0a"),
    expectHex("aa00"),
    sendHex("04"),
    expectHex("bb"),
  ]);
  assert.ok(withNewline.error instanceof DialogVerifyError, String(withNewline.error));
  assert.equal(withNewline.error.step, 4);
  assert.equal(withNewline.error.received, "X");
});

Deno.test("runDialog() matches a regex on latin1 text, byte for byte", async () => {
  await using peer = await startScripted([{ say: Uint8Array.of(0x00, 0xff, 0x41) }]);
  // deno-lint-ignore no-control-regex
  const result = await dialog(peer.port, [expectRe(/^\x00\xffA/)]);
  assert.equal(result.error, null);
});

Deno.test("runDialog() times out a silent step as a reply timeout", async () => {
  await using peer = await startScripted([{ pauseMs: 10_000 }]);
  const result = await dialog(peer.port, [expect("220")], 200);
  assert.ok(result.error instanceof DialogNetError);
  assert.equal(result.error.kind, "timeout");
  assert.equal(result.error.timer, "reply");
  assert.equal(result.error.step, 1);
  assert.equal(result.error.received, "");
  assert.equal(
    result.error.message,
    `dialog "127.0.0.1:${peer.port}": step 1 (--expect "220"): timed out after 200ms (-t); received nothing`,
  );
  assert.equal(exitCodeFor(result.error), 4);
});

Deno.test("runDialog() calls a reply that stops short of a match a mismatch", async () => {
  await using peer = await startScripted([{ say: "\x1b[2J500 go away" }, { pauseMs: 10_000 }]);
  const result = await dialog(peer.port, [expect("220")], 200);
  assert.ok(result.error instanceof DialogVerifyError);
  assert.equal(result.error.received, "\\x1b[2J500 go away");
  assert.match(
    result.error.message,
    /no match within 200ms \(-t\); received "\\x1b\[2J500 go away"$/,
  );
});

Deno.test("runDialog() reports EOF before any byte as closed", async () => {
  await using peer = await startScripted([]);
  const result = await dialog(peer.port, [expect("220")]);
  assert.ok(result.error instanceof DialogNetError);
  assert.equal(result.error.kind, "closed");
  assert.match(result.error.message, /step 1 \(--expect "220"\): peer closed the connection/);
});

Deno.test("runDialog() stops buffering at maxBytes", async () => {
  await using peer = await startScripted([{ say: "x".repeat(5000) }, { pauseMs: 10_000 }]);
  const result = await dialog(peer.port, [expectRe(/y/)], 5000, 1000);
  assert.ok(result.error instanceof DialogVerifyError);
  assert.match(result.error.message, /no match in the first 1000 bytes/);
  assert.ok(result.error.received.endsWith("..."));
});

Deno.test("runDialog() rejects with the parent signal's reason and closes the conn", async () => {
  await using peer = await startScripted([{ pauseMs: 10_000 }]);
  const conn = await connect(peer.port);
  const controller = new AbortController();
  const reason = new Error("stop");
  try {
    const running = runDialog(conn, {
      steps: [expect("never")],
      address: "x",
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(running, (err) => err === reason);
    await assert.rejects(conn.read(new Uint8Array(1)));
  } finally {
    conn.close();
  }
});

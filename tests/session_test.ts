import assert from "node:assert/strict";
import { runSession, type SessionOptions, type SessionResult } from "../lib/net/session.ts";
import { NetError } from "../lib/errors.ts";
import type { ByteReader } from "../lib/stream.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { killAfter } from "./peers/cli.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A one-connection peer on loopback; `handler` gets the accepted conn (closed afterwards). */
function onePeer(handler: (conn: Deno.TcpConn) => Promise<unknown>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    try {
      return await handler(conn);
    } finally {
      try {
        conn.close();
      } catch { /* the handler closed it */ }
    }
  })();
  return { port, done };
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  while (true) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) break;
    chunks.push(buffer.slice(0, n));
  }
  const all = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return all;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A reader that yields the chunks with a pause before each, then EOF (or hangs when `hang`). */
function slowReader(chunks: Uint8Array[], pauseMs: number, hang = false): ByteReader & {
  release(): void;
} {
  let release = () => {};
  const held = new Promise<null>((resolve) => release = () => resolve(null));
  let i = 0;
  return {
    async read(buffer) {
      const chunk = chunks[i++];
      if (chunk === undefined) return hang ? await held : null;
      if (pauseMs > 0) await sleep(pauseMs);
      buffer.set(chunk);
      return chunk.length;
    },
    release,
  };
}

/** Runs a session against 127.0.0.1:port and collects its output. */
async function session(
  port: number,
  options: Omit<SessionOptions, "output">,
): Promise<SessionResult & { text: string; received: Uint8Array }> {
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  const chunks: Uint8Array[] = [];
  const result = await runSession(conn, {
    ...options,
    output: (chunk) => void chunks.push(chunk.slice()),
  });
  const received = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    received.set(c, offset);
    offset += c.length;
  }
  return { ...result, received, text: decoder.decode(received) };
}

function assertTimeout(result: SessionResult, timer: string, flag: string): void {
  assert.equal(result.close, "timeout");
  assert.ok(result.error instanceof NetError, String(result.error));
  assert.equal(result.error.kind, "timeout");
  assert.equal(result.error.timer, timer);
  assert.ok(result.error.message.includes(`(${flag})`), result.error.message);
}

Deno.test("runSession() half-closes after input and reads a reply that comes after EOF", async () => {
  const peer = onePeer(async (conn) => {
    const got = await readAll(conn); // until our half-close
    await writeAll(conn, encoder.encode(`got ${got.length}: ${decoder.decode(got)}`));
  });
  let halfClosed = 0;
  const sent: string[] = [];
  const result = await session(peer.port, {
    input: slowReader([encoder.encode("b\n"), encoder.encode("a\n")], 0),
    onHalfClose: () => halfClosed++,
    onSent: (chunk) => sent.push(decoder.decode(chunk)),
    idleTimeoutMs: 5000,
  });
  await peer.done;
  assert.equal(result.text, "got 4: b\na\n");
  assert.equal(result.close, "eof");
  assert.equal(result.error, null);
  assert.equal(result.bytesSent, 4);
  assert.equal(result.bytesReceived, 11);
  assert.equal(halfClosed, 1);
  assert.deepEqual(sent, ["b\n", "a\n"]);
  assert.ok(result.firstByteMs !== null && result.firstByteMs <= result.durationMs);
});

Deno.test("runSession() ends on peer EOF even while input is still open", async () => {
  const peer = onePeer(async (conn) => {
    await writeAll(conn, encoder.encode("bye\n"));
  });
  const input = slowReader([], 0, true);
  const started = performance.now();
  const result = await session(peer.port, { input });
  input.release();
  await peer.done;
  assert.equal(result.text, "bye\n");
  assert.equal(result.close, "eof");
  assert.equal(result.error, null);
  assert.ok(performance.now() - started < 2000);
});

Deno.test("runSession() quits quitAfterEofMs after input EOF when the peer stays open", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const peer = onePeer(async (conn) => {
    await writeAll(conn, encoder.encode("hello"));
    await readAll(conn); // EOF from our half-close, then stay open and silent
    await held;
  });
  const started = performance.now();
  const result = await session(peer.port, { input: encoder.encode("x"), quitAfterEofMs: 300 });
  const elapsed = performance.now() - started;
  release();
  assert.equal(result.text, "hello");
  assert.equal(result.close, "local");
  assert.equal(result.error, null);
  assert.ok(elapsed >= 290 && elapsed < 1500, `took ${elapsed} ms`);
  await peer.done;
});

Deno.test("runSession() stops at maxBytes", async () => {
  const peer = onePeer(async (conn) => {
    await writeAll(conn, new Uint8Array(100_000).fill(0x61)).catch(() => {});
  });
  const result = await session(peer.port, { input: null, maxBytes: 1000 });
  await peer.done;
  assert.equal(result.bytesReceived, 1000);
  assert.equal(result.received.length, 1000);
  assert.equal(result.close, "local");
  assert.equal(result.error, null);
});

Deno.test("runSession() sends LF as CRLF across chunk boundaries, once", async () => {
  const peer = onePeer(async (conn) => {
    const got = await readAll(conn);
    await writeAll(conn, got);
  });
  const input = slowReader(
    [encoder.encode("a\nb\r"), encoder.encode("\nc\n\n"), encoder.encode("d\r\n")],
    10,
  );
  const result = await session(peer.port, { input, crlf: true });
  await peer.done;
  assert.equal(result.text, "a\r\nb\r\nc\r\n\r\nd\r\n");
  assert.equal(result.bytesSent, result.received.length);
  const fixed = onePeer(async (conn) => await writeAll(conn, await readAll(conn)));
  const once = await session(fixed.port, { input: encoder.encode("x\ny\r\n"), crlf: true });
  await fixed.done;
  assert.equal(once.text, "x\r\ny\r\n");
});

Deno.test("runSession() fires the io timeout against a silent peer", async () => {
  const peer = onePeer(async (conn) => await readAll(conn));
  const input = slowReader([], 0, true);
  const started = performance.now();
  const result = await session(peer.port, { input, ioTimeoutMs: 300 });
  const elapsed = performance.now() - started;
  input.release();
  await peer.done;
  assertTimeout(result, "io", "--timeout");
  assert.match((result.error as Error).message, /io timeout: a read waited for 300ms/);
  assert.ok(elapsed >= 290 && elapsed < 1500, `took ${elapsed} ms`);
});

Deno.test("runSession() io timeout: a read is not stalled while the upload moves", async () => {
  const peer = onePeer(async (conn) => {
    const got = await readAll(conn);
    await writeAll(conn, encoder.encode(`${got.length}`));
  });
  // 8 chunks, 100 ms apart: 800 ms of upload with a 300 ms timeout and no reply yet.
  const input = slowReader(Array.from({ length: 8 }, () => new Uint8Array(1000)), 100);
  const result = await session(peer.port, { input, ioTimeoutMs: 300 });
  await peer.done;
  assert.equal(result.error, null);
  assert.equal(result.close, "eof");
  assert.equal(result.text, "8000");
});

Deno.test("runSession() io timeout fires on a write the peer never drains", async () => {
  let release = () => {};
  const held = new Promise<void>((resolve) => release = resolve);
  const peer = onePeer(async () => await held); // accepts, never reads
  const started = performance.now();
  const result = await session(peer.port, {
    input: new Uint8Array(64 * 1024 * 1024),
    ioTimeoutMs: 500,
  });
  const elapsed = performance.now() - started;
  release();
  await peer.done;
  assertTimeout(result, "io", "--timeout");
  assert.match((result.error as Error).message, /io timeout: a write waited for 500ms/);
  assert.ok(result.bytesSent > 0 && result.bytesSent < 64 * 1024 * 1024);
  assert.ok(elapsed >= 490 && elapsed < 3000, `took ${elapsed} ms`);
});

Deno.test("runSession() fires the first-byte timeout and then no longer", async () => {
  const silent = onePeer(async (conn) => await readAll(conn));
  const input = slowReader([], 0, true);
  const result = await session(silent.port, { input, firstByteTimeoutMs: 300 });
  input.release();
  await silent.done;
  assertTimeout(result, "first-byte", "--first-byte-timeout");
  assert.equal(result.firstByteMs, null);

  const talker = onePeer(async (conn) => {
    await writeAll(conn, encoder.encode("hi"));
    await sleep(600);
  });
  const answered = await session(talker.port, { input: null, firstByteTimeoutMs: 300 });
  await talker.done;
  assert.equal(answered.error, null);
  assert.equal(answered.close, "eof");
  assert.equal(answered.text, "hi");
});

Deno.test("runSession() idle timeout resets on every byte", async () => {
  const peer = onePeer(async (conn) => {
    for (let i = 0; i < 5; i++) {
      await writeAll(conn, encoder.encode(`${i}`));
      await sleep(150);
    }
    await readAll(conn);
  });
  const input = slowReader([], 0, true);
  const started = performance.now();
  const result = await session(peer.port, { input, idleTimeoutMs: 400 });
  const elapsed = performance.now() - started;
  input.release();
  await peer.done;
  assertTimeout(result, "idle", "--idle-timeout");
  assert.equal(result.text, "01234");
  assert.ok(elapsed >= 600 + 390 && elapsed < 2500, `took ${elapsed} ms`);
});

Deno.test("runSession() keeps bytes received before a reset and reports the reset", async () => {
  const script = `
import socket, struct, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.sendall(b"partial reply")
time.sleep(0.3)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close(); s.close()
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  killAfter(child, 60_000);
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const port = Number(decoder.decode(value).trim());
    const input = slowReader([], 0, true);
    const result = await session(port, { input, idleTimeoutMs: 5000 });
    input.release();
    assert.equal(result.text, "partial reply");
    assert.equal(result.close, "error");
    assert.ok(result.error instanceof NetError);
    assert.equal(result.error.kind, "reset");
    assert.match(result.error.message, /^read( ".*")?: connection reset by peer$/);
  } finally {
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
});

Deno.test("runSession() closes when the signal aborts and reports its reason", async () => {
  const peer = onePeer(async (conn) => await readAll(conn));
  const controller = new AbortController();
  const reason = new Error("stop");
  setTimeout(() => controller.abort(reason), 200);
  const input = slowReader([], 0, true);
  const result = await session(peer.port, { input, signal: controller.signal });
  input.release();
  await peer.done;
  assert.equal(result.close, "aborted");
  assert.equal(result.error, reason);
});

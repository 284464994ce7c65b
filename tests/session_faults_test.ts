import assert from "node:assert/strict";
import { runSession, type SessionOptions } from "../lib/net/session.ts";
import { NetError } from "../lib/errors.ts";
import type { ByteReader } from "../lib/stream.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { killAfter } from "./peers/cli.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EIGHT_MIB = 8 << 20;

/**
 * A loopback peer that reads everything until our half-close, counting bytes,
 * then replies with the count and closes.
 */
function countingPeer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    try {
      const buffer = new Uint8Array(1 << 16);
      let total = 0;
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        total += n;
      }
      await conn.write(encoder.encode(String(total)));
      return total;
    } finally {
      conn.close();
    }
  })();
  return { port, done };
}

/** Runs a session to 127.0.0.1:port, collecting the output text. */
async function session(port: number, options: Omit<SessionOptions, "output">) {
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  let text = "";
  const result = await runSession(conn, {
    address: `127.0.0.1:${port}`,
    ...options,
    output: (chunk) => void (text += decoder.decode(chunk, { stream: true })),
  });
  return { ...result, text };
}

/** A reader that yields `total` bytes in `chunk`-sized reads, then EOF. */
function chunkedReader(total: number, chunk: number): ByteReader {
  let left = total;
  return {
    read(buffer) {
      if (left === 0) return Promise.resolve(null);
      const n = Math.min(chunk, left, buffer.length);
      buffer.fill(0x61, 0, n);
      left -= n;
      return Promise.resolve(n);
    },
  };
}

for (
  const [name, input] of [
    ["fixed bytes", () => new Uint8Array(EIGHT_MIB).fill(0x62)],
    ["a reader", () => chunkedReader(EIGHT_MIB, 100_000)],
  ] as const
) {
  Deno.test(`runSession() half-closes only after all input (${name}) is sent`, async () => {
    const peer = countingPeer();
    let sent = 0;
    const halfClosedAt: number[] = [];
    const result = await session(peer.port, {
      input: input(),
      onSent: (chunk) => sent += chunk.length,
      onHalfClose: () => halfClosedAt.push(sent),
      idleTimeoutMs: 20_000,
    });
    assert.equal(await peer.done, EIGHT_MIB);
    assert.deepEqual(halfClosedAt, [EIGHT_MIB], "one half-close, after the last byte");
    assert.equal(result.text, String(EIGHT_MIB), "the reply after our FIN was read");
    assert.equal(result.bytesSent, EIGHT_MIB);
    assert.equal(result.close, "eof");
    assert.equal(result.error, null);
  });
}

/** A python peer that reads one byte, then resets the connection (SO_LINGER 0). */
async function startResetter(): Promise<{ port: number; stop(): Promise<void> }> {
  const script = `
import socket, struct
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close(); s.close()
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  killAfter(child, 60_000);
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return {
    port: Number(decoder.decode(value).trim()),
    async stop() {
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

for (
  const [name, input] of [
    ["fixed bytes", () => new Uint8Array(32 << 20)],
    ["a reader", () => chunkedReader(32 << 20, 1 << 18)],
  ] as const
) {
  Deno.test(`runSession() reports a write that fails on a reset, never a half-close (${name})`, async () => {
    const peer = await startResetter();
    try {
      let halfClosed = false;
      const result = await session(peer.port, {
        input: input(),
        onHalfClose: () => halfClosed = true,
        idleTimeoutMs: 20_000,
      });
      assert.equal(result.close, "error");
      assert.ok(result.error instanceof NetError, String(result.error));
      // The reset is seen by the write (reset/broken pipe) or by the read.
      assert.ok(["reset", "io"].includes(result.error.kind), result.error.message);
      assert.match(result.error.message, /^(write|read) "127\.0\.0\.1:\d+": /);
      assert.equal(halfClosed, false, "no half-close after a failed write");
      assert.ok(result.bytesSent < 32 << 20, `sent ${result.bytesSent}`);
    } finally {
      await peer.stop();
    }
  });
}

Deno.test("runSession() with an already aborted signal sends nothing and closes", async () => {
  const peer = countingPeer();
  const controller = new AbortController();
  const reason = new Error("stopped before start");
  controller.abort(reason);
  const result = await session(peer.port, {
    input: encoder.encode("never sent"),
    signal: controller.signal,
  });
  assert.equal(result.close, "aborted");
  assert.equal(result.error, reason);
  assert.equal(result.bytesSent, 0);
  assert.equal(await peer.done, 0, "the peer saw the connection close with nothing sent");
});

import assert from "node:assert/strict";
import { serve, type ServeMode, type ServeResult } from "../lib/net/server.ts";
import { outputWithin } from "./peers/cli.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function startServe(mode: ServeMode) {
  const controller = new AbortController();
  let port = 0;
  const running: Promise<ServeResult> = serve(0, {
    mode,
    signal: controller.signal,
    onListen: (addr) => port = addr.port,
  });
  const stop = async () => {
    controller.abort();
    return await running;
  };
  return { port, stop };
}

async function exchange(port: number, data: Uint8Array, readLimit = Infinity): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const writing = (async () => {
      let offset = 0;
      while (offset < data.length) offset += await conn.write(data.subarray(offset));
      if (readLimit === Infinity) await conn.closeWrite();
    })();
    const chunks: number[] = [];
    const buffer = new Uint8Array(65536);
    while (chunks.length < readLimit) {
      const n = await conn.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, Math.min(n, readLimit - chunks.length))) {
        chunks.push(byte);
      }
    }
    await writing;
    return new Uint8Array(chunks);
  } finally {
    conn.close();
  }
}

Deno.test("serve() echoes every byte and closes after the client's half-close", async () => {
  const server = startServe("echo");
  try {
    const data = new Uint8Array(65536 * 3 + 17);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    assert.deepEqual(await exchange(server.port, data), data);
    assert.equal(decoder.decode(await exchange(server.port, encoder.encode("x\n"))), "x\n");
  } finally {
    const result = await server.stop();
    assert.deepEqual(result, { accepted: 2, acceptErrors: 0 });
  }
});

Deno.test("serve() in discard mode reads and answers nothing", async () => {
  const server = startServe("discard");
  try {
    assert.equal((await exchange(server.port, new Uint8Array(100_000))).length, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("serve() in chargen mode sends RFC 864 lines", async () => {
  const server = startServe("chargen");
  try {
    const got = decoder.decode(await exchange(server.port, new Uint8Array(0), 74 * 96));
    const lines = got.split("\r\n");
    const ring = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");
    assert.equal(lines[0], ring.slice(0, 72));
    assert.equal(lines[1], ring.slice(1, 73));
    assert.equal(lines[94], (ring + ring).slice(94, 94 + 72));
    assert.equal(lines[95], ring.slice(0, 72));
  } finally {
    await server.stop();
  }
});

Deno.test("serve() survives clients that reset before accept", async () => {
  const server = startServe("echo");
  try {
    // 20 clients connect and reset (SO_LINGER 0) while this thread, the server's,
    // is blocked: their connections die in the accept queue.
    const script = `
import socket, struct
for _ in range(20):
    s = socket.socket(); s.connect(("127.0.0.1", ${server.port}))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
print("done", flush=True)
`;
    const child = new Deno.Command("python3", { args: ["-c", script], stdout: "piped" }).spawn();
    const until = Date.now() + 1500;
    while (Date.now() < until) { /* block the event loop: no accept runs */ }
    const { success, stdout } = await outputWithin(child, 60_000);
    assert.ok(success);
    assert.equal(decoder.decode(stdout), "done\n");
    // The server is still there and still echoes.
    for (let i = 0; i < 3; i++) {
      assert.equal(
        decoder.decode(await exchange(server.port, encoder.encode(`ok ${i}`))),
        `ok ${i}`,
      );
    }
  } finally {
    const result = await server.stop();
    assert.equal(result.accepted + result.acceptErrors, 23, JSON.stringify(result));
    // Linux hands out a connection reset in the queue as a failed accept (ENOTCONN).
    assert.ok(result.acceptErrors > 0, JSON.stringify(result));
  }
});

Deno.test("serve() stops on abort and closes open connections", async () => {
  const server = startServe("echo");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(encoder.encode("a"));
    const buffer = new Uint8Array(8);
    assert.equal(await conn.read(buffer), 1);
    const result = await server.stop();
    assert.equal(result.accepted, 1);
    assert.equal(await conn.read(buffer).catch(() => null), null);
    await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port: server.port }));
  } finally {
    conn.close();
  }
});

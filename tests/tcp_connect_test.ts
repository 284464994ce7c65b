import assert from "node:assert/strict";
import type { Conn } from "../lib/net/conn.ts";
import { connectNode } from "../lib/net/node_connect.ts";
import { connectTcp } from "../lib/net/tcp_connect.ts";
import { startBuiltin } from "./peers/servers.ts";

const LINUX = Deno.build.os === "linux";

/** The `ss -o` timer of the established socket whose local end is `address` ("" if none). */
async function timerOf(address: string): Promise<string> {
  const port = address.slice(address.lastIndexOf(":") + 1);
  const { code, stdout } = await new Deno.Command("ss", {
    args: ["-tnoH", "state", "established", `sport = :${port}`],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  return /timer:\((\w+)/.exec(new TextDecoder().decode(stdout))?.[1] ?? "";
}

/** Sends a line and reads it back from the echo peer. */
async function echoes(conn: Conn): Promise<string> {
  await conn.write(new TextEncoder().encode("ping\n"));
  const buf = new Uint8Array(16);
  const n = await conn.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0));
}

Deno.test({
  name: "connectTcp() without a signal connects, and keepAlive turns on TCP keepalive (tcp(7))",
  ignore: !LINUX,
  async fn() {
    await using peer = await startBuiltin();
    for (const keepAlive of [false, true]) {
      const conn = await connectTcp("127.0.0.1", peer.port, { keepAlive, noDelay: true });
      try {
        assert.equal(await echoes(conn), "ping\n");
        assert.equal(await timerOf(conn.localAddress), keepAlive ? "keepalive" : "");
      } finally {
        conn.close();
      }
    }
  },
});

Deno.test("connectNode() without a source connects from an address the kernel picks", async () => {
  await using peer = await startBuiltin();
  const conn = await connectNode("127.0.0.1", peer.port, { signal: AbortSignal.timeout(10_000) });
  try {
    assert.match(conn.localAddress, /^127\.0\.0\.1:\d+$/);
    assert.equal(conn.remoteAddress, `127.0.0.1:${peer.port}`);
    assert.equal(await echoes(conn), "ping\n");
  } finally {
    conn.close();
  }
});

import assert from "node:assert/strict";
import { connectTcp } from "../lib/net/tcp_connect.ts";

/** ss(8) lines of established sockets to `port` on loopback. */
async function socketsTo(port: number): Promise<string> {
  const ss = await new Deno.Command("ss", {
    args: ["-tnoH", "state", "established", `( dport = :${port} )`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(ss.stdout);
}

Deno.test("connectTcp() without a signal turns keepalive on only when asked", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  try {
    for (const keepAlive of [true, false]) {
      const conn = await connectTcp("127.0.0.1", port, { keepAlive, noDelay: true });
      const accepted = await listener.accept();
      try {
        // ss shows a keepalive timer on an idle socket with SO_KEEPALIVE.
        const sockets = await socketsTo(port);
        assert.equal(/timer:\(keepalive/.test(sockets), keepAlive, sockets);
        assert.equal(conn.remoteAddress, `127.0.0.1:${port}`);
      } finally {
        conn.close();
        accepted.close();
      }
    }
  } finally {
    listener.close();
  }
});

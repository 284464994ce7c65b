import assert from "node:assert/strict";
import { runSession } from "../lib/net/session.ts";
import { NetError } from "../lib/errors.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";

Deno.test("runSession() io timeout fires before a later idle timeout against a silent peer", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let release = () => {};
  const held = new Promise<null>((resolve) => release = () => resolve(null));
  try {
    const conn = new TcpConn(
      await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    );
    const peer = await listener.accept();
    try {
      // The idle deadline (60 s) is armed first; the read's io deadline (300 ms)
      // comes later but is sooner, so it replaces the timer.
      const result = await runSession(conn, {
        input: { read: () => held },
        output: () => {},
        idleTimeoutMs: 60_000,
        ioTimeoutMs: 300,
      });
      assert.equal(result.close, "timeout");
      assert.ok(result.error instanceof NetError, String(result.error));
      assert.equal(result.error.timer, "io");
      assert.match(result.error.message, /io timeout: a read waited for 300ms \(--timeout\)/);
      assert.ok(result.durationMs < 30_000, `took ${result.durationMs} ms`);
    } finally {
      peer.close();
    }
  } finally {
    release();
    listener.close();
  }
});

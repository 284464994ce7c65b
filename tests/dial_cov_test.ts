import assert from "node:assert/strict";
import { dial } from "../lib/net/dial.ts";
import { NetError } from "../lib/errors.ts";

Deno.test("dial() under a parent AbortSignal.timeout() is a deadline timeout naming the address", async () => {
  // A listener that never accepts, with a backlog of 1: the first connects
  // complete in the kernel, later ones hang until the deadline.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 1 });
  const port = listener.addr.port;
  const held: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 2; i++) held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    await assert.rejects(dial("127.0.0.1", port, { signal: AbortSignal.timeout(200) }), (err) => {
      assert.ok(err instanceof NetError, String(err));
      assert.equal(err.kind, "timeout");
      assert.equal(err.timer, "deadline");
      assert.match(err.message, new RegExp(`^connect "127\\.0\\.0\\.1:${port}": timed out`));
      return true;
    });
  } finally {
    for (const conn of held) conn.close();
    listener.close();
  }
});

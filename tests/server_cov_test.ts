import assert from "node:assert/strict";
import { serve } from "../lib/net/server.ts";
import { acceptConn } from "../lib/net/listener.ts";
import { NetError } from "../lib/errors.ts";

Deno.test("serve() with an already aborted signal stops at once", async () => {
  let port = 0;
  const result = await serve(0, { signal: AbortSignal.abort(), onListen: (a) => port = a.port });
  assert.deepEqual(result, { accepted: 0, acceptErrors: 0 });
  assert.ok(port > 0);
  // The port was released: it can be bound again.
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});

Deno.test("serve() in chargen mode discards what the client sends and ends after its half-close", async () => {
  const controller = new AbortController();
  let port = 0;
  const running = serve(0, {
    mode: "chargen",
    signal: controller.signal,
    onListen: (a) => port = a.port,
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("ignored by chargen\n".repeat(100)));
      await conn.closeWrite();
      // The server sends until it sees our half-close, then closes: EOF comes.
      const buffer = new Uint8Array(65536);
      let total = 0;
      let first = "";
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        if (first === "") first = new TextDecoder().decode(buffer.subarray(0, Math.min(n, 74)));
        total += n;
        assert.ok(total < 1 << 30, "chargen never stopped");
      }
      assert.equal(
        first.slice(0, 72),
        Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + i)).join(""),
      );
      assert.ok(total > 0);
    } finally {
      conn.close();
    }
  } finally {
    controller.abort();
    assert.equal((await running).accepted, 1);
  }
});

Deno.test("acceptConn() with an already aborted signal rejects with its reason without accepting", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const reason = new Error("stopped by the caller");
    await assert.rejects(
      acceptConn(listener, { signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    // A bare DOMException reason becomes a NetError naming the address.
    await assert.rejects(acceptConn(listener, { signal: AbortSignal.abort() }), (err) => {
      assert.ok(err instanceof NetError, String(err));
      assert.match(err.message, /^accept "127\.0\.0\.1:\d+": /);
      return true;
    });
  } finally {
    try {
      listener.close();
    } catch { /* closed by the abort */ }
  }
});

Deno.test("acceptConn() aborted after its listener was closed rejects with the abort reason", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const controller = new AbortController();
  const waiting = acceptConn(listener, { signal: controller.signal });
  listener.close();
  const reason = new Error("stopped");
  controller.abort(reason);
  await assert.rejects(waiting, (err) => err === reason);
});

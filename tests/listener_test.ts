import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import { acceptConn, listenTcp } from "../lib/net/listener.ts";

Deno.test("acceptConn() returns the client as a Conn with both addresses", async () => {
  const listener = listenTcp("127.0.0.1", 0);
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  try {
    const conn = await acceptConn(listener, { timeoutMs: 10_000 });
    assert.equal(conn.localAddress, `127.0.0.1:${listener.addr.port}`);
    assert.equal(conn.remoteAddress, `127.0.0.1:${(client.localAddr as Deno.NetAddr).port}`);
    conn.close();
  } finally {
    client.close();
    listener.close();
  }
});

Deno.test("acceptConn() gives up after timeoutMs with a connect-timer NetError and closes the listener", async () => {
  const listener = listenTcp("127.0.0.1", 0);
  const port = listener.addr.port;
  const err = await acceptConn(listener, { timeoutMs: 50 }).catch((e) => e);
  assert.ok(err instanceof NetError, String(err));
  assert.equal(err.kind, "timeout");
  assert.equal(err.timer, "connect");
  assert.equal(err.message, `accept "127.0.0.1:${port}": no client connected within 50ms (-w)`);
  assert.throws(() => listener.close(), Deno.errors.BadResource);
});

Deno.test("acceptConn() rejects with the signal's reason on abort", async () => {
  const listener = listenTcp("127.0.0.1", 0);
  const controller = new AbortController();
  const waiting = acceptConn(listener, { signal: controller.signal });
  const reason = new Error("stop");
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
});

Deno.test("listenTcp() on a port in use throws an io NetError naming the address", () => {
  const held = listenTcp("127.0.0.1", 0);
  try {
    const address = `127.0.0.1:${held.addr.port}`;
    assert.throws(
      () => listenTcp("127.0.0.1", held.addr.port),
      (e) =>
        e instanceof NetError && e.kind === "io" &&
        e.message === `listen "${address}": address already in use (EADDRINUSE)`,
    );
  } finally {
    held.close();
  }
});

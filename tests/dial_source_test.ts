import assert from "node:assert/strict";
import { dial } from "../lib/net/dial.ts";
import { NetError } from "../lib/errors.ts";
import { freePort, startHanging } from "./peers/servers.ts";

/** A listener on 127.0.0.1 that accepts one connection and resolves with it. */
function acceptOne() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept().finally(() => listener.close());
  return { port: (listener.addr as Deno.NetAddr).port, accepted };
}

function assertNetError(err: unknown, kind: string, message: RegExp): true {
  assert.ok(err instanceof NetError, String(err));
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, message);
  return true;
}

Deno.test("dial() binds the source address and port it is given (node:net path)", async () => {
  const server = acceptOne();
  const sourcePort = freePort();
  const conn = await dial("127.0.0.1", server.port, {
    source: { address: "127.0.0.2", port: sourcePort },
    connectTimeoutMs: 5000,
    noDelay: true,
    keepAlive: true,
  });
  const peer = await server.accepted;
  try {
    assert.equal(conn.localAddress, `127.0.0.2:${sourcePort}`);
    assert.equal(conn.remoteAddress, `127.0.0.1:${server.port}`);
    // The peer sees the bound source: the binding really happened.
    const remote = peer.remoteAddr as Deno.NetAddr;
    assert.deepEqual([remote.hostname, remote.port], ["127.0.0.2", sourcePort]);
    await conn.write(new TextEncoder().encode("hi"));
    const buffer = new Uint8Array(2);
    assert.equal(await peer.read(buffer), 2);
    assert.equal(new TextDecoder().decode(buffer), "hi");
  } finally {
    conn.close();
    peer.close();
  }
});

Deno.test("dial() names a source port already in use (EADDRINUSE)", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = acceptOne();
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    await assert.rejects(
      () => dial("127.0.0.1", server.port, { source: { address: "127.0.0.1", port } }),
      (err) =>
        assertNetError(
          err,
          "io",
          new RegExp(
            `^bind "127\\.0\\.0\\.1:${port}": source port ${port} is already in use \\(EADDRINUSE\\)$`,
          ),
        ),
    );
  } finally {
    taken.close();
    // Unblock the accept so that the listener closes.
    (await Deno.connect({ hostname: "127.0.0.1", port: server.port })).close();
    (await server.accepted).close();
  }
});

Deno.test("dial() names a source address that is not this host's (EADDRNOTAVAIL)", async () => {
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is on no interface: bind(2) fails locally,
  // before any packet could leave.
  await assert.rejects(
    () => dial("127.0.0.1", freePort(), { source: { address: "192.0.2.1" } }),
    (err) =>
      assertNetError(
        err,
        "io",
        /^bind "192\.0\.2\.1": source address "192\.0\.2\.1" is not an address of this host \(EADDRNOTAVAIL\)$/,
      ),
  );
});

Deno.test("dial() refuses a source of the other address family", async () => {
  await assert.rejects(
    () => dial("::1", 9, { source: { address: "127.0.0.1" } }),
    (err) =>
      assertNetError(
        err,
        "unreachable",
        /^connect "\[::1\]:9": no address of the same family as source "127\.0\.0\.1" \(resolved ::1\)$/,
      ),
  );
});

Deno.test("dial() with a source reports a refused port and a hanging connect", async () => {
  const closed = freePort();
  await assert.rejects(
    () => dial("127.0.0.1", closed, { source: { address: "127.0.0.1" }, connectTimeoutMs: 5000 }),
    (err) => assertNetError(err, "refused", /^connect "127\.0\.0\.1:\d+": connection refused$/),
  );
  await using hanging = await startHanging();
  await hanging.fill();
  const started = performance.now();
  await assert.rejects(
    () =>
      dial("127.0.0.1", hanging.port, {
        source: { address: "127.0.0.1" },
        connectTimeoutMs: 300,
      }),
    (err) => assertNetError(err, "timeout", /^connect "127\.0\.0\.1:\d+": timed out after 300ms/),
  );
  assert.ok(performance.now() - started < 5000);
});

Deno.test("dial() with a source port equal to the destination reports the self-connect as refused", async () => {
  // Nothing listens on the port; binding it as our source and connecting to it
  // connects the socket to itself (TCP simultaneous open, RFC 9293 3.5). With a
  // fixed source port there is nothing to retry: refused at once, never open.
  const port = freePort();
  await assert.rejects(
    () => dial("127.0.0.1", port, { source: { port }, connectTimeoutMs: 5000 }),
    (err) =>
      assertNetError(
        err,
        "refused",
        new RegExp(
          `^connect "127\\.0\\.0\\.1:${port}": connected to itself: nothing listens there`,
        ),
      ),
  );
});

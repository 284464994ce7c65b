import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import type { Conn } from "../lib/net/conn.ts";
import { dialStack, type Layer } from "../lib/net/stack.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";

/** A layer that waits for the signal and rejects with its reason (as real layers do). */
function hangingLayer(op: string, seen: Conn[]): Layer {
  return {
    op,
    run: (conn, signal) => {
      seen.push(conn);
      return new Promise<Conn>((_, reject) => {
        if (signal.aborted) return reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
  };
}

/** A layer that takes about `ms` (a timer, released by the signal), then passes the conn up. */
function slowLayer(op: string, phase: Layer["phase"], ms: number): Layer {
  return {
    op,
    ...(phase === undefined ? {} : { phase }),
    run: (conn, signal) =>
      new Promise<Conn>((resolve, reject) => {
        const timer = setTimeout(() => {
          signal.removeEventListener("abort", abort);
          resolve(conn);
        }, ms);
        const abort = () => {
          clearTimeout(timer);
          reject(signal.reason);
        };
        signal.addEventListener("abort", abort, { once: true });
      }),
  };
}

/** True when the conn was closed (a read on it fails at once). */
async function isClosed(conn: Conn): Promise<boolean> {
  try {
    await conn.read(new Uint8Array(1));
    return false;
  } catch {
    return true;
  }
}

async function rejection(promise: Promise<Conn>): Promise<unknown> {
  try {
    const conn = await promise;
    conn.close();
  } catch (err) {
    return err;
  }
  throw new Error("the dial succeeded");
}

Deno.test("dialStack() without layers returns the TCP conn with only resolve and connect timed", async () => {
  await using peer = await startBuiltin();
  const conn = await dialStack("127.0.0.1", peer.port, { connectTimeoutMs: 10_000 });
  try {
    assert.equal(conn.remoteAddress, `127.0.0.1:${peer.port}`);
    assert.equal(typeof conn.facts.timings.connectMs, "number");
    assert.equal(conn.facts.timings.proxyMs, null);
    assert.equal(conn.facts.timings.tlsMs, null);
  } finally {
    conn.close();
  }
});

Deno.test("dialStack() classifies a throwing layer with its op and closes the conn", async () => {
  await using peer = await startBuiltin();
  const seen: Conn[] = [];
  const layer: Layer = {
    op: "proxy-header",
    run: (conn) => {
      seen.push(conn);
      return Promise.reject(new Error("header refused"));
    },
  };
  const err = await rejection(dialStack("127.0.0.1", peer.port, { layers: [layer] }));
  assert.ok(err instanceof NetError);
  assert.equal(err.kind, "io");
  assert.equal(err.op, "proxy-header");
  assert.equal(err.address, `127.0.0.1:${peer.port}`);
  assert.equal(err.message, `proxy-header "127.0.0.1:${peer.port}": header refused`);
  assert.equal(seen.length, 1);
  assert.ok(await isClosed(seen[0]!));
});

Deno.test("dialStack() passes a layer's NetError through with its own address", async () => {
  await using peer = await startBuiltin();
  const own = new NetError("tls", "handshake failed", { op: "tls", address: "localhost:443" });
  const layer: Layer = { op: "tls", phase: "tls", run: () => Promise.reject(own) };
  const err = await rejection(dialStack("127.0.0.1", peer.port, { layers: [layer] }));
  assert.equal(err, own);
});

Deno.test("dialStack() closes the conn a layer returned and the TCP conn when a later layer fails", async () => {
  await using peer = await startBuiltin();
  const seen: Conn[] = [];
  const tcp: Conn[] = [];
  let closedAbove = 0;
  const wrap: Layer = {
    op: "proxy",
    run: (conn) => {
      tcp.push(conn);
      // A new Conn object on the same socket, sharing facts (as a layer does).
      const above: Conn = {
        read: (buf) => conn.read(buf),
        write: (data) => conn.write(data),
        closeWrite: () => conn.closeWrite(),
        close: () => {
          closedAbove++;
          conn.close();
        },
        localAddress: conn.localAddress,
        remoteAddress: conn.remoteAddress,
        facts: conn.facts,
      };
      return Promise.resolve(above);
    },
  };
  const fail: Layer = {
    op: "tls",
    run: (conn) => {
      seen.push(conn);
      return Promise.reject(new Deno.errors.ConnectionReset("reset by peer"));
    },
  };
  const err = await rejection(dialStack("127.0.0.1", peer.port, { layers: [wrap, fail] }));
  assert.ok(err instanceof NetError);
  assert.equal(err.kind, "reset");
  assert.equal(err.op, "tls");
  assert.equal(err.message, `tls "127.0.0.1:${peer.port}": connection reset by peer`);
  assert.notEqual(seen[0], tcp[0]);
  assert.equal(closedAbove, 1);
  assert.ok(await isClosed(tcp[0]!));
});

Deno.test("dialStack() rethrows the parent signal's own reason when it aborts during a layer", async () => {
  await using peer = await startBuiltin();
  const controller = new AbortController();
  const reason = new Error("interrupted by the test");
  const seen: Conn[] = [];
  const layer = hangingLayer("starttls", seen);
  const running = dialStack("127.0.0.1", peer.port, {
    signal: controller.signal,
    connectTimeoutMs: 30_000,
    layers: [{
      ...layer,
      run: (conn, signal) => {
        const pending = layer.run(conn, signal);
        controller.abort(reason);
        return pending;
      },
    }],
  });
  const err = await rejection(running);
  assert.equal(err, reason);
  assert.ok(await isClosed(seen[0]!));
});

Deno.test("dialStack() reports a parent DOMException timeout during a layer as the deadline timer", async () => {
  await using peer = await startBuiltin();
  const controller = new AbortController();
  const seen: Conn[] = [];
  const layer = hangingLayer("proxy", seen);
  const err = await rejection(dialStack("127.0.0.1", peer.port, {
    signal: controller.signal,
    layers: [{
      ...layer,
      run: (conn, signal) => {
        const pending = layer.run(conn, signal);
        controller.abort(new DOMException("deadline", "TimeoutError"));
        return pending;
      },
    }],
  }));
  assert.ok(err instanceof NetError);
  assert.equal(err.kind, "timeout");
  assert.equal(err.timer, "deadline");
  assert.equal(err.op, "proxy");
  assert.equal(err.message, `proxy "127.0.0.1:${peer.port}": timed out`);
  assert.ok(await isClosed(seen[0]!));
});

Deno.test("dialStack() names the layer and --connect-timeout when the deadline expires in a layer", async (t) => {
  await using peer = await startBuiltin();
  for (const [flag, shown] of [[undefined, "--connect-timeout"], ["-w", "-w"]] as const) {
    await t.step(shown, async () => {
      const seen: Conn[] = [];
      const err = await rejection(dialStack("127.0.0.1", peer.port, {
        connectTimeoutMs: 300,
        ...(flag === undefined ? {} : { timeoutFlag: flag }),
        layers: [slowLayer("proxy", "proxy", 1), hangingLayer("tls", seen)],
      }));
      assert.ok(err instanceof NetError);
      assert.equal(err.kind, "timeout");
      assert.equal(err.timer, "connect");
      assert.equal(err.op, "tls");
      assert.equal(err.message, `tls "127.0.0.1:${peer.port}": timed out after 300ms (${shown})`);
      assert.ok(await isClosed(seen[0]!));
    });
  }
});

Deno.test("dialStack() does not start a layer once the signal has fired", async () => {
  await using peer = await startBuiltin();
  const controller = new AbortController();
  let ranSecond = false;
  const first: Layer = {
    op: "proxy",
    run: (conn) => {
      controller.abort(new DOMException("deadline", "TimeoutError"));
      return Promise.resolve(conn);
    },
  };
  const second: Layer = {
    op: "tls",
    run: (conn) => {
      ranSecond = true;
      return Promise.resolve(conn);
    },
  };
  const err = await rejection(dialStack("127.0.0.1", peer.port, {
    signal: controller.signal,
    layers: [first, second],
  }));
  assert.equal(ranSecond, false);
  assert.ok(err instanceof NetError);
  assert.equal(err.op, "tls");
  assert.equal(err.timer, "deadline");
});

Deno.test("dialStack() makes an unreachable first hop the proxy's failure", async () => {
  const proxyPort = freePort();
  const err = await rejection(dialStack("192.0.2.1", 443, {
    firstHop: { host: "127.0.0.1", port: proxyPort, label: "socks5 proxy" },
    layers: [slowLayer("proxy", "proxy", 1)],
  }));
  assert.ok(err instanceof NetError);
  assert.equal(err.kind, "proxy");
  assert.equal(err.op, "proxy");
  assert.equal(err.address, `127.0.0.1:${proxyPort}`);
  assert.equal(
    err.message,
    `proxy "127.0.0.1:${proxyPort}": cannot reach the socks5 proxy: connection refused`,
  );
  assert.ok(err.cause instanceof NetError);
  assert.equal((err.cause as NetError).kind, "refused");
});

Deno.test("dialStack() without a first hop keeps a refused connect as refused", async () => {
  const port = freePort();
  const err = await rejection(dialStack("127.0.0.1", port, {
    layers: [slowLayer("tls", "tls", 1)],
  }));
  assert.ok(err instanceof NetError);
  assert.equal(err.kind, "refused");
  assert.equal(err.op, "connect");
});

Deno.test("dialStack() keeps a timeout to the first hop a timeout", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const err = await rejection(dialStack("192.0.2.1", 443, {
    connectTimeoutMs: 300,
    firstHop: { host: "127.0.0.1", port: hanging.port, label: "http proxy" },
    layers: [slowLayer("proxy", "proxy", 1)],
  }));
  assert.ok(err instanceof NetError);
  assert.equal(err.kind, "timeout");
  assert.equal(err.timer, "connect");
  assert.doesNotMatch(err.message, /cannot reach/);
});

Deno.test("dialStack() adds each layer's time to its phase: proxy after connect, tls summed", async () => {
  await using peer = await startBuiltin();
  const conn = await dialStack("192.0.2.1", 443, {
    connectTimeoutMs: 30_000,
    firstHop: { host: "127.0.0.1", port: peer.port, label: "socks5 proxy" },
    layers: [
      slowLayer("proxy", "proxy", 30),
      slowLayer("proxy-header", undefined, 1),
      slowLayer("starttls", "tls", 30),
      slowLayer("tls", "tls", 30),
    ],
  });
  try {
    const { connectMs, proxyMs, tlsMs } = conn.facts.timings;
    assert.ok(connectMs !== null && proxyMs !== null && tlsMs !== null);
    // The first hop's connect counts as proxy time; the layer's time comes on top.
    assert.ok(proxyMs - connectMs >= 29, `proxyMs ${proxyMs}, connectMs ${connectMs}`);
    // Two layers of at least 30 ms each counted into tlsMs.
    assert.ok(tlsMs >= 59, `tlsMs ${tlsMs}`);
  } finally {
    conn.close();
  }
});

Deno.test("dialStack() leaves the phases unset for layers without one", async () => {
  await using peer = await startBuiltin();
  const conn = await dialStack("127.0.0.1", peer.port, {
    layers: [slowLayer("proxy-header", undefined, 1)],
  });
  try {
    assert.equal(conn.facts.timings.proxyMs, null);
    assert.equal(conn.facts.timings.tlsMs, null);
  } finally {
    conn.close();
  }
});

Deno.test("dialStack() passes a caller's own abort reason at the first hop through unchanged", async () => {
  await using peer = await startBuiltin();
  const controller = new AbortController();
  const reason = new Error("stopped by the caller");
  controller.abort(reason);
  const err = await rejection(dialStack("192.0.2.1", 443, {
    signal: controller.signal,
    firstHop: { host: "127.0.0.1", port: peer.port, label: "http proxy" },
    layers: [slowLayer("proxy", "proxy", 1)],
  }));
  assert.equal(err, reason);
});

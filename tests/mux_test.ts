import assert from "node:assert/strict";
import { type CloseResult, Mux, type MuxConn } from "../lib/net/mux.ts";
import { TimerHeap } from "../lib/net/timer_heap.ts";
import { ReadyQueue } from "../lib/net/ready_queue.ts";
import { parseFdLimit } from "../lib/net/fd_limit.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";
import { acceptEach } from "./peers/accept.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A loopback listener that accepts everything and keeps the conns until stopped. */
function holdingServer(options: { greeting?: string } = {}) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns: Deno.Conn[] = [];
  const accepting = acceptEach(listener, async (conn) => {
    conns.push(conn);
    if (options.greeting !== undefined) {
      await conn.write(encoder.encode(options.greeting)).catch(() => {});
    }
  });
  return {
    port,
    conns,
    async stop() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("TimerHeap pops entries in due order, ties in push order", () => {
  const heap = new TimerHeap<string>();
  const due = [50, 10, 30, 10, 40, 20, 0];
  due.forEach((at, i) => heap.push(at, `${at}:${i}`));
  assert.equal(heap.size, due.length);
  assert.deepEqual(heap.popDue(25).map((e) => e.item), ["0:6", "10:1", "10:3", "20:5"]);
  assert.equal(heap.nextAt(), 30);
  assert.deepEqual([heap.pop()?.item, heap.pop()?.item, heap.pop()?.item], [
    "30:2",
    "40:4",
    "50:0",
  ]);
  assert.equal(heap.pop(), undefined);
  assert.equal(heap.nextAt(), Infinity);
});

Deno.test("TimerHeap keeps order over many random entries", () => {
  const heap = new TimerHeap<number>();
  let seed = 7;
  const values: number[] = [];
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    values.push(seed % 1000);
    heap.push(seed % 1000, i);
  }
  const out: number[] = [];
  for (let e = heap.pop(); e !== undefined; e = heap.pop()) out.push(e.at);
  assert.deepEqual(out, values.sort((a, b) => a - b));
});

Deno.test("ReadyQueue is FIFO and wakes a waiting loop", async () => {
  const queue = new ReadyQueue<number>();
  for (let i = 0; i < 3000; i++) queue.push(i);
  for (let i = 0; i < 2000; i++) assert.equal(queue.shift(), i);
  queue.push(3000);
  assert.equal(queue.length, 1001);
  for (let i = 2000; i <= 3000; i++) assert.equal(queue.shift(), i);
  assert.equal(queue.shift(), undefined);
  const woken = queue.wait();
  queue.push(42);
  await woken;
  assert.equal(queue.shift(), 42);
});

Deno.test("ReadyQueue stays FIFO through compaction when it never empties", () => {
  const queue = new ReadyQueue<number>();
  const reference: number[] = [];
  let next = 0;
  // Push 3 for every 2 shifted: the queue grows past the compaction point many times.
  for (let round = 0; round < 5000; round++) {
    for (let i = 0; i < 3; i++) {
      queue.push(next);
      reference.push(next++);
    }
    for (let i = 0; i < 2; i++) assert.equal(queue.shift(), reference.shift());
    assert.equal(queue.length, reference.length);
  }
  while (reference.length > 0) assert.equal(queue.shift(), reference.shift());
  assert.equal(queue.shift(), undefined);
  assert.equal(queue.length, 0);
});

Deno.test("parseFdLimit() reads the soft limit of /proc/self/limits", () => {
  const text = [
    "Limit                     Soft Limit           Hard Limit           Units",
    "Max cpu time              unlimited            unlimited            seconds",
    "Max open files            20000                20000                files",
  ].join("\n");
  assert.equal(parseFdLimit(text), 20000);
  assert.equal(parseFdLimit("Max open files  unlimited unlimited files"), undefined);
  assert.equal(parseFdLimit(""), undefined);
});

Deno.test("Mux reports open, refused and connect timeout, one onClose each", async () => {
  const server = holdingServer();
  const closedPort = freePort();
  const hanging = await startHanging();
  try {
    await hanging.fill();
    const results = new Map<string, CloseResult>();
    let opened = 0;
    const mux = new Mux<string>({
      handler: {
        onOpen: (conn) => {
          opened++;
          conn.close();
        },
        onClose: (conn, result) => {
          assert.equal(results.has(conn.state), false, "onClose once per connection");
          assert.equal(conn.phase, "closed");
          results.set(conn.state, result);
        },
      },
    });
    for (
      const [name, port] of [["open", server.port], ["closed", closedPort], [
        "hang",
        hanging.port,
      ]] as const
    ) {
      mux.dial({ hostname: "127.0.0.1", port, state: name, read: false, connectTimeoutMs: 300 });
    }
    await mux.run();
    assert.equal(opened, 1);
    assert.equal(results.get("open")?.reason, "local");
    assert.equal(results.get("open")?.connected, true);
    assert.equal(results.get("closed")?.reason, "error");
    assert.equal((results.get("closed")?.error as { kind: string }).kind, "refused");
    const hang = results.get("hang")!;
    assert.equal(hang.reason, "timeout");
    assert.equal((hang.error as { timer: string }).timer, "connect");
    assert.ok(hang.totalMs >= 250, `timed out after ${hang.totalMs} ms`);
    assert.deepEqual({ ...mux.stats, events: 0 }, {
      queued: 0,
      connecting: 0,
      open: 0,
      closed: 3,
      maxOpen: Infinity,
      fdLimitHits: 0,
      events: 0,
    });
  } finally {
    await hanging.stop();
    await server.stop();
  }
});

Deno.test("Mux pipelines queued writes, half-closes and reads to EOF", async () => {
  const echo = await startBuiltin("echo");
  try {
    const messages = ["one\n", "two\n", "three\n"].map((m) => encoder.encode(m));
    const written: string[] = [];
    const chunks: string[] = [];
    const seen: { netOut: string[]; eof: boolean; result?: CloseResult } = {
      netOut: [],
      eof: false,
    };
    const mux = new Mux<null>({
      handler: {
        onOpen(conn) {
          for (const m of messages) conn.write(m);
          conn.closeWrite();
          seen.netOut.push(conn.netOut);
          assert.equal(conn.writesQueued, 3);
        },
        onWritten: (_conn, data) => written.push(decoder.decode(data)),
        onData: (_conn, chunk) => chunks.push(decoder.decode(chunk)),
        onEof(conn) {
          seen.eof = true;
          assert.equal(conn.netIn, "done");
        },
        onClose: (_conn, result) => seen.result = result,
      },
    });
    mux.dial({
      hostname: "127.0.0.1",
      port: echo.port,
      state: null,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 5000,
    });
    await mux.run();
    assert.deepEqual(written, ["one\n", "two\n", "three\n"]);
    assert.equal(chunks.join(""), "one\ntwo\nthree\n");
    assert.equal(seen.netOut[0], "writing", "one write in flight, the rest queued");
    assert.equal(seen.eof, true);
    assert.equal(seen.result?.reason, "eof");
    assert.equal(seen.result?.error, null);
    assert.equal(seen.result?.bytesOut, 14);
    assert.equal(seen.result?.bytesIn, 14);
    assert.ok((seen.result?.firstByteMs ?? -1) >= 0);
  } finally {
    await echo.stop();
  }
});

Deno.test("Mux fires first-byte and idle deadlines and names them", async () => {
  const silent = holdingServer();
  const chatty = holdingServer({ greeting: "hi" });
  try {
    const results = new Map<string, CloseResult>();
    const mux = new Mux<string>({
      handler: { onClose: (conn, result) => results.set(conn.state, result) },
    });
    mux.dial({
      hostname: "127.0.0.1",
      port: silent.port,
      state: "first-byte",
      firstByteTimeoutMs: 200,
      idleTimeoutMs: 5000,
    });
    mux.dial({
      hostname: "127.0.0.1",
      port: chatty.port,
      state: "idle",
      firstByteTimeoutMs: 5000,
      idleTimeoutMs: 250,
    });
    mux.dial({
      hostname: "127.0.0.1",
      port: silent.port,
      state: "total",
      totalTimeoutMs: 300,
    });
    await mux.run();
    for (const name of ["first-byte", "idle", "total"]) {
      const result = results.get(name)!;
      assert.equal(result.reason, "timeout", name);
      assert.equal((result.error as { timer: string }).timer, name);
      assert.equal(result.connected, true);
    }
    assert.equal(results.get("idle")?.bytesIn, 2);
    assert.ok(results.get("first-byte")!.totalMs >= 150);
  } finally {
    await silent.stop();
    await chatty.stop();
  }
});

Deno.test("Mux counts writes as progress: idle fires only once they stop", async () => {
  const silent = holdingServer();
  try {
    let result: CloseResult | undefined;
    let writes = 0;
    const mux = new Mux<null>({
      handler: {
        onOpen(conn) {
          // One write every 50 ms for 600 ms: each completion is stamped lazily
          // and must hold the 300 ms idle deadline off.
          const tick = () => {
            if (conn.phase !== "open" || writes === 12) return;
            writes++;
            conn.write(encoder.encode("x"));
            mux.after(50, tick);
          };
          tick();
        },
        onClose: (_conn, closed) => result = closed,
      },
    });
    mux.dial({
      hostname: "127.0.0.1",
      port: silent.port,
      state: null,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 300,
      totalTimeoutMs: 10_000,
    });
    await mux.run();
    assert.equal(result?.reason, "timeout");
    assert.equal((result?.error as { timer: string }).timer, "idle");
    assert.equal(result?.bytesOut, 12, "every write went out before the idle deadline");
    assert.ok(
      result!.totalMs >= 550 + 250,
      `idle counted from the last write (${result!.totalMs} ms)`,
    );
  } finally {
    await silent.stop();
  }
});

Deno.test("MuxConn.lastProgress is the time of the read in onData and moves on with writes", async () => {
  const echo = await startBuiltin("echo");
  try {
    const issues: string[] = [];
    let writtenAt = 0;
    let previous = 0;
    let rounds = 0;
    const mux = new Mux<null>({
      handler: {
        onOpen(conn) {
          writtenAt = performance.now();
          conn.write(encoder.encode("ping"));
        },
        onData(conn) {
          const now = performance.now();
          const at = conn.lastProgress;
          if (at < writtenAt) issues.push(`read stamped ${writtenAt - at} ms before its write`);
          if (at > now) issues.push("read stamped in the future");
          if (at < previous) issues.push("lastProgress went back");
          previous = at;
          if (++rounds === 50) return conn.closeWrite();
          writtenAt = performance.now();
          conn.write(encoder.encode("ping"));
        },
        onWritten(conn) {
          if (conn.lastProgress < previous) issues.push("lastProgress went back after a write");
        },
      },
    });
    mux.dial({
      hostname: "127.0.0.1",
      port: echo.port,
      state: null,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 5000,
    });
    await mux.run();
    assert.equal(rounds, 50);
    assert.deepEqual(issues, []);
  } finally {
    await echo.stop();
  }
});

Deno.test("Mux holds 1,000 concurrent connections and releases them without leaks", async () => {
  const server = holdingServer();
  const count = 1000;
  try {
    const open = new Set<MuxConn<number>>();
    let peak = 0;
    let closed = 0;
    const mux = new Mux<number>({
      maxOpen: count,
      handler: {
        onOpen(conn) {
          open.add(conn);
          peak = Math.max(peak, mux.stats.open);
          if (open.size === count) { for (const c of open) c.close(); }
        },
        onClose(_conn, result) {
          assert.equal(result.reason, "local");
          closed++;
        },
      },
    });
    for (let i = 0; i < count; i++) {
      mux.dial({ hostname: "127.0.0.1", port: server.port, state: i, connectTimeoutMs: 10_000 });
    }
    await mux.run();
    assert.equal(peak, count, "all held open at once");
    assert.equal(closed, count);
    assert.equal(mux.stats.open, 0);
    assert.equal(mux.stats.connecting, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("Mux cancels queued, connecting and open connections with one signal", async () => {
  const server = holdingServer();
  const hanging = await startHanging();
  try {
    await hanging.fill();
    const controller = new AbortController();
    const reasons: string[] = [];
    const mux = new Mux<null>({
      signal: controller.signal,
      maxConnecting: 2,
      handler: {
        onOpen: () => setTimeout(() => controller.abort(new Error("stop")), 50),
        onClose: (_conn, result) => reasons.push(result.reason),
      },
    });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: null });
    for (let i = 0; i < 5; i++) {
      mux.dial({
        hostname: "127.0.0.1",
        port: hanging.port,
        state: null,
        connectTimeoutMs: 60_000,
      });
    }
    await assert.rejects(mux.run(), /stop/);
    assert.equal(reasons.length, 6);
    assert.ok(reasons.every((r) => r === "aborted"), reasons.join());
  } finally {
    await hanging.stop();
    await server.stop();
  }
});

Deno.test("Mux after() paces work and keeps run() alive until it fires", async () => {
  const server = holdingServer();
  try {
    const order: string[] = [];
    const started = performance.now();
    const mux = new Mux<number>({
      handler: {
        onOpen: (conn) => conn.close(),
        onClose: (conn) => {
          order.push(`closed ${conn.state}`);
          if (conn.state < 3) {
            mux.after(30, () => {
              order.push(`tick ${conn.state}`);
              mux.dial({ hostname: "127.0.0.1", port: server.port, state: conn.state + 1 });
            });
          }
        },
      },
    });
    const cancel = mux.after(10_000, () => order.push("never"));
    mux.after(5, () => cancel());
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: 1 });
    await mux.run();
    assert.deepEqual(order, ["closed 1", "tick 1", "closed 2", "tick 2", "closed 3"]);
    assert.ok(performance.now() - started < 5000, "the cancelled timer did not hold run()");
  } finally {
    await server.stop();
  }
});

Deno.test("Mux closes everything and rethrows when a handler throws", async () => {
  const server = holdingServer();
  try {
    const reasons: string[] = [];
    const mux = new Mux<number>({
      handler: {
        onOpen: (conn) => {
          if (conn.state === 3) throw new Error("handler bug");
        },
        onClose: (_conn, result) => reasons.push(result.reason),
      },
    });
    for (let i = 1; i <= 5; i++) mux.dial({ hostname: "127.0.0.1", port: server.port, state: i });
    await assert.rejects(mux.run(), /handler bug/);
    assert.equal(reasons.length, 5);
  } finally {
    await server.stop();
  }
});

Deno.test("MuxConn.write() after closeWrite() is refused", async () => {
  const server = holdingServer();
  try {
    let error: unknown = null;
    const mux = new Mux<null>({
      handler: {
        onOpen(conn) {
          conn.closeWrite();
          try {
            conn.write(encoder.encode("late"));
          } catch (err) {
            error = err;
          }
          conn.close();
        },
      },
    });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: null });
    await mux.run();
    assert.ok(error instanceof TypeError);
  } finally {
    await server.stop();
  }
});

import assert from "node:assert/strict";
import { type CloseResult, Mux, type MuxConn } from "../lib/net/mux.ts";
import { NetError } from "../lib/errors.ts";
import { killAfter } from "./peers/cli.ts";

const decoder = new TextDecoder();

/**
 * A python peer on 127.0.0.1 that accepts one connection, reads one byte, then
 * resets it (SO_LINGER 0) and prints "reset": after that line, our next write
 * fails for real.
 */
function startResetAfterOneByte() {
  const script = `
import socket, struct
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.recv(1)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close(); s.close()
print("reset", flush=True)
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  killAfter(child, 60_000);
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const waitFor = async (word: string) => {
    while (!seen.includes(word)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`peer ended before "${word}"`);
      seen += value;
    }
  };
  return {
    async port() {
      await waitFor("\n");
      return Number(seen.split("\n")[0]);
    },
    reset: () => waitFor("reset"),
    async stop() {
      await lines.cancel().catch(() => {});
      try {
        child.kill();
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** A loopback listener that accepts and holds connections; `eof(i)` resolves when conn i reads EOF. */
function holdingServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let notify = () => {};
  const accepting = (async () => {
    for (;;) {
      try {
        conns.push(await listener.accept());
        notify();
      } catch {
        return;
      }
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async readToEnd(index: number): Promise<string> {
      while (conns.length <= index) await new Promise<void>((resolve) => notify = resolve);
      const buffer = new Uint8Array(1024);
      let text = "";
      for (;;) {
        const n = await conns[index]!.read(buffer).catch(() => null);
        if (n === null) return text;
        text += decoder.decode(buffer.subarray(0, n));
      }
    },
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

Deno.test("Mux closes a connection whose write fails after the peer reset it", async () => {
  const peer = startResetAfterOneByte();
  try {
    const port = await peer.port();
    let opened: MuxConn<null> | null = null;
    let openedNow = () => {};
    const open = new Promise<void>((resolve) => openedNow = resolve);
    const closes: CloseResult[] = [];
    const mux = new Mux<null>({
      handler: {
        onOpen(conn) {
          opened = conn;
          conn.write(new Uint8Array([0x67])); // the byte the peer waits for
          openedNow();
        },
        onClose: (_conn, result) => closes.push(result),
      },
    });
    // No read: the failure must come from the write itself.
    mux.dial({ hostname: "127.0.0.1", port, state: null, read: false, idleTimeoutMs: 20_000 });
    const running = mux.run();
    await open;
    await peer.reset();
    opened!.write(new Uint8Array(64 * 1024));
    await running;
    assert.equal(closes.length, 1);
    const [result] = closes;
    assert.equal(result!.reason, "error");
    assert.ok(result!.error instanceof NetError, String(result!.error));
    assert.ok(["reset", "io"].includes(result!.error.kind), result!.error.message);
    assert.match(result!.error.message, /^write "127\.0\.0\.1:\d+": /);
    assert.equal(result!.bytesOut, 1, "only the byte before the reset was sent");
  } finally {
    await peer.stop();
  }
});

Deno.test("Mux run() rejects with an after() callback's error after closing everything", async () => {
  const server = holdingServer();
  try {
    const bug = new Error("timer callback bug");
    const closes: [string, CloseResult][] = [];
    let lateDial: MuxConn<string> | null = null;
    const mux = new Mux<string>({
      maxConnecting: 1,
      maxOpen: 1,
      handler: {
        onOpen(conn) {
          conn.write(new TextEncoder().encode("hello"));
          // Throws from the loop's timer, not from this callback.
          mux.after(1, () => {
            throw bug;
          });
        },
        onClose(conn, result) {
          closes.push([conn.state, result]);
          // A dial from a callback while the loop is stopping is closed at once.
          if (conn.state === "open") {
            lateDial = mux.dial({ hostname: "127.0.0.1", port: server.port, state: "late" });
          }
        },
      },
    });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: "open" });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: "queued" }); // waits for maxOpen
    const never = mux.after(60_000, () => assert.fail("cancelled by the failure"));
    await assert.rejects(mux.run(), (err) => err === bug);
    never();
    never(); // cancelling twice is harmless
    // The open connection was really closed: its peer reads what was sent, then EOF.
    assert.equal(await server.readToEnd(0), "hello");
    assert.deepEqual(
      closes.map(([name, result]) => [name, result.reason, result.error === bug]),
      [["open", "aborted", true], ["late", "aborted", true], ["queued", "aborted", true]],
    );
    assert.equal(lateDial!.phase, "closed");
    assert.equal(mux.stats.open, 0);
    await assert.rejects(mux.run(), (err) => err === bug, "the failure stays");
  } finally {
    await server.stop();
  }
});

Deno.test("Mux run() rejects when onClose throws for a deadline, and refuses a second run()", async () => {
  const server = holdingServer();
  try {
    const bug = new Error("onClose bug");
    const reasons: string[] = [];
    const mux = new Mux<null>({
      handler: {
        onClose(_conn, result) {
          reasons.push(result.reason);
          if (result.reason === "timeout") throw bug;
        },
      },
    });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: null, firstByteTimeoutMs: 50 });
    const running = mux.run();
    await assert.rejects(mux.run(), TypeError, "run() while running");
    await assert.rejects(running, (err) => err === bug);
    assert.deepEqual(reasons, ["timeout"]);
    assert.equal(await server.readToEnd(0), "", "the timed-out connection was closed");
  } finally {
    await server.stop();
  }
});

Deno.test("Mux run() rejects with the first error when onClose throws while closing all", async () => {
  const server = holdingServer();
  try {
    const first = new Error("onOpen bug");
    const second = new Error("onClose bug");
    let opened = 0;
    const mux = new Mux<number>({
      handler: {
        onOpen(conn) {
          opened++;
          if (opened === 2) throw first;
          void conn;
        },
        onClose() {
          throw second;
        },
      },
    });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: 1 });
    mux.dial({ hostname: "127.0.0.1", port: server.port, state: 2 });
    await assert.rejects(mux.run(), (err) => err === first);
    assert.equal(await server.readToEnd(0), "");
    assert.equal(await server.readToEnd(1), "");
  } finally {
    await server.stop();
  }
});

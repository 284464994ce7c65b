import assert from "node:assert/strict";
import { flushOutput, openInputFile, sessionOptions } from "../lib/cli/session_io.ts";
import type { CommandContext } from "../lib/cli/context.ts";
import { NetError } from "../lib/errors.ts";
import { setupLog, teardownLog } from "../lib/log.ts";

/** A context whose stdout never drains: flush waits for its signal, 5 bytes stay pending. */
function stuckContext(): CommandContext {
  return {
    stdout: {
      write: (data: Uint8Array) => Promise.resolve(data.length),
      flush: (signal?: AbortSignal) =>
        new Promise<void>((resolve) => {
          if (signal === undefined || signal.aborted) return resolve();
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
      pending: () => 5,
    },
  } as unknown as CommandContext;
}

Deno.test("flushOutput() says why output was cut: the io timeout, a deadline, or the caller's reason", async () => {
  const io = await flushOutput(stuckContext(), {
    signal: new AbortController().signal,
    ioTimeoutMs: 50,
  });
  assert.ok(io instanceof NetError, String(io));
  assert.equal(io.timer, "io");
  assert.equal(
    io.message,
    "output: io timeout: a write to the output waited for 50ms (--timeout); output cut: 5 bytes not written",
  );
  const deadline = new NetError("timeout", "deadline of 1s reached (--deadline)", {
    op: "session",
    address: "127.0.0.1:7",
    timer: "deadline",
  });
  const cut = await flushOutput(stuckContext(), { signal: AbortSignal.abort(deadline) });
  assert.ok(cut instanceof NetError, String(cut));
  assert.equal(cut.timer, "deadline");
  assert.match(
    cut.message,
    /deadline of 1s reached \(--deadline\); output cut: 5 bytes not written$/,
  );
  const reason = new Error("interrupted by the caller");
  assert.equal(await flushOutput(stuckContext(), { signal: AbortSignal.abort(reason) }), reason);
});

Deno.test("openInputFile() waiting on a FIFO without a writer ends with its signal's reason", async () => {
  const dir = await Deno.makeTempDir();
  const fifo = `${dir}/fifo`;
  try {
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    const reason = new Error("gave up waiting");
    const controller = new AbortController();
    const opening = openInputFile(fifo, { signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(opening, (err) => err === reason);
    // A writer lets the abandoned open finish; openInputFile then closes that
    // file. Writes succeed until it did (then EPIPE): only then has the open op
    // completed, which the test's op sanitizer checks.
    const writer = await Deno.open(fifo, { write: true });
    try {
      let closed = false;
      for (let i = 0; i < 1000 && !closed; i++) {
        try {
          await writer.write(new Uint8Array(1));
          await new Promise((resolve) => setTimeout(resolve, 10));
        } catch (err) {
          assert.ok(err instanceof Deno.errors.BrokenPipe, String(err));
          closed = true;
        }
      }
      assert.ok(closed, "the abandoned open was closed");
    } finally {
      writer.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sessionOptions() logs the default half-close note at -vv", async () => {
  const lines: string[] = [];
  await setupLog({ verbosity: 2, write: (line) => lines.push(line) });
  try {
    const options = sessionOptions(
      { json: false, hex: false, verbosity: 2, crlf: false },
      stuckContext(),
      { input: null, signal: new AbortController().signal, address: "127.0.0.1:7", chunks: [] },
    );
    options.onHalfClose!();
    assert.deepEqual(lines, [
      `[tcpc (${Deno.pid})] input ended: half-close (shutdown SHUT_WR), reading the reply`,
    ]);
  } finally {
    await teardownLog();
  }
});

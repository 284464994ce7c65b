import assert from "node:assert/strict";
import { bufferedWriter, fillRing, RING_SLOTS } from "../lib/net/stdio.ts";
import { outputWithin } from "./peers/cli.ts";
import { spawnStdioScript, writeStdioScript } from "./peers/stdio_script.ts";

const { WRITTEN, CONSUMED, STATE, GO, EOF, FAILED, RUN, STOP } = RING_SLOTS;

/** A control block and a ring of `size` bytes, as the loop makes them. */
function shared(size: number) {
  return {
    control: new Int32Array(new SharedArrayBuffer(8 * 4)),
    ring: new Uint8Array(new SharedArrayBuffer(size)),
  };
}

/** A blocking read that hands out `chunks` one per call, then `null`. */
function chunksReader(chunks: Uint8Array[]) {
  const sizes: number[] = [];
  return {
    sizes,
    read(buffer: Uint8Array): number | null {
      sizes.push(buffer.length);
      const chunk = chunks.shift();
      if (chunk === undefined) return null;
      const count = Math.min(chunk.length, buffer.length);
      buffer.set(chunk.subarray(0, count));
      if (count < chunk.length) chunks.unshift(chunk.subarray(count));
      return count;
    },
  };
}

Deno.test("fillRing() waits for the hand-over, fills the ring and marks the end of input", () => {
  const { control, ring } = shared(4096);
  const events: string[] = [];
  const reader = chunksReader([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])]);
  fillRing(control, ring, {
    read: reader.read,
    onReady: () => events.push("ready"),
    // The loop's side: hands stdin over while the worker waits on GO.
    wait: (array, index, value) => {
      events.push(`wait ${index} ${value}`);
      Atomics.store(array, GO, RUN);
    },
  });
  assert.deepEqual(events, ["ready", `wait ${GO} 0`]);
  assert.equal(Atomics.load(control, WRITTEN), 5);
  assert.equal(Atomics.load(control, STATE), EOF);
  assert.deepEqual([...ring.subarray(0, 5)], [1, 2, 3, 4, 5]);
});

Deno.test("fillRing() waits while the ring is full and wraps around it", () => {
  const { control, ring } = shared(4096);
  const data = new Uint8Array(10_000).map((_, i) => i % 251);
  const reader = chunksReader([data]);
  const seen: number[] = [];
  Atomics.store(control, GO, RUN);
  let waits = 0;
  fillRing(control, ring, {
    read: reader.read,
    // The loop's side: consumes everything the worker wrote, in order.
    wait: (array, index, value) => {
      assert.equal(index, CONSUMED);
      waits++;
      const written = Atomics.load(array, WRITTEN);
      for (let at = value; at !== written; at = (at + 1) | 0) seen.push(ring[at & 4095]!);
      Atomics.store(array, CONSUMED, written);
    },
  });
  const written = Atomics.load(control, WRITTEN);
  for (let at = Atomics.load(control, CONSUMED); at !== written; at++) seen.push(ring[at & 4095]!);
  assert.equal(waits, 2, "10000 bytes fill a 4096-byte ring twice");
  assert.deepEqual(seen, [...data]);
  assert.ok(reader.sizes.every((size) => size <= 4096), "a read never runs past the ring's end");
});

Deno.test("fillRing() reports a failed read and marks the ring failed", () => {
  const { control, ring } = shared(4096);
  Atomics.store(control, GO, RUN);
  const errors: Error[] = [];
  fillRing(control, ring, {
    read: () => {
      throw new Deno.errors.ConnectionReset("reset by peer");
    },
    onError: (error) => errors.push(error),
  });
  assert.equal(Atomics.load(control, STATE), FAILED);
  assert.deepEqual(errors.map((e) => [e.name, e.message]), [["ConnectionReset", "reset by peer"]]);
  // Without onError the state still tells the loop.
  const other = shared(4096);
  Atomics.store(other.control, GO, RUN);
  fillRing(other.control, other.ring, {
    read: () => {
      throw new Error("gone");
    },
  });
  assert.equal(Atomics.load(other.control, STATE), FAILED);
});

Deno.test("fillRing() stops without reading when told to stop", () => {
  const { control, ring } = shared(4096);
  Atomics.store(control, GO, STOP);
  let reads = 0;
  fillRing(control, ring, { read: () => (reads++, 1) });
  assert.equal(reads, 0);
  assert.equal(Atomics.load(control, STATE), 0, "neither end of input nor failure");
  // A stop between two reads ends the loop too.
  const other = shared(4096);
  Atomics.store(other.control, GO, RUN);
  fillRing(other.control, other.ring, {
    read: () => {
      Atomics.store(other.control, GO, STOP);
      return 2;
    },
  });
  assert.equal(Atomics.load(other.control, WRITTEN), 2);
});

/** Runs `code` (with `stdio` imported) in `deno run` with `input` on stdin; returns its stdout. */
async function runFed(code: string, input: Uint8Array | string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const child = await spawnStdioScript(path, code);
    const writer = child.stdin.getWriter();
    await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
    await writer.close();
    const out = await outputWithin(child, 60_000);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("stdinReader() keeps reading ahead when no worker thread can start", async () => {
  const code = `
    globalThis.Worker = class { constructor() { throw new Error("no threads here"); } };
    const input = stdio.stdinReader({ kind: "pipe", threadAfterBytes: 1, readAheadBytes: 4096 });
    const buffer = new Uint8Array(1000);
    let total = 0;
    for (let n; (n = await input.read(buffer)) !== null;) total += n;
    console.log(input.mode(), total);
    input.close();`;
  assert.equal(await runFed(code, new Uint8Array(50_000)), "read-ahead 50000");
});

Deno.test("stdinReader() close() ends a read waiting on the worker's ring", async () => {
  // The test feeds small writes until the worker has taken over, then stops
  // and writes the byte count to a file; the script reads exactly that many
  // bytes, so that its next read waits on an empty ring until close().
  const dir = await Deno.makeTempDir();
  const code = `
    const input = stdio.stdinReader({ kind: "pipe", threadAfterBytes: 1, ringBytes: 4096 });
    const buffer = new Uint8Array(4096);
    let total = 0;
    while (input.mode() !== "thread") total += await input.read(buffer) ?? 0;
    Deno.writeTextFileSync(${JSON.stringify(`${dir}/thread`)}, "");
    let sent = null;
    for (let i = 0; i < 6000 && sent === null; i++) {
      try {
        sent = Number(Deno.readTextFileSync(${JSON.stringify(`${dir}/sent`)}));
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    while (total < sent) total += await input.read(buffer) ?? 0;
    const waiting = input.read(buffer);
    setTimeout(() => input.close(), 10);
    console.log(input.mode(), total, await waiting);
    // A worker blocked in read(2) on the silent pipe would hold the process.
    Deno.exit(0);`;
  const path = `${dir}/script.ts`;
  try {
    const child = await spawnStdioScript(path, code);
    const output = outputWithin(child, 60_000);
    const writer = child.stdin.getWriter();
    let sent = 0;
    try {
      for (let i = 0; i < 4000; i++) {
        if (await Deno.stat(`${dir}/thread`).then(() => true, () => false)) break;
        await writer.write(new Uint8Array(512));
        sent += 512;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Deno.writeTextFile(`${dir}/sent`, String(sent));
      const out = await output;
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(new TextDecoder().decode(out.stdout).trim(), `thread ${sent} null`);
    } finally {
      await writer.close().catch(() => {});
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("streamKind() tells a device that may block and a block device from others", async () => {
  const code = `console.log(await stdio.streamKind(0));`;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await writeStdioScript(path, code);
    const kindOf = async (device: string) => {
      const out = await outputWithin(
        new Deno.Command("sh", {
          args: ["-c", `exec "${Deno.execPath()}" run -A "${path}" < ${device}`],
          stdout: "piped",
          stderr: "piped",
        }).spawn(),
        60_000,
      );
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim();
    };
    // A character device outside Linux's "mem" major (10, misc) may block.
    assert.equal(await kindOf("/dev/net/tun"), "unknown");
    assert.equal(await kindOf("/dev/zero"), "device");
    // A directory is none of the kinds.
    assert.equal(await kindOf("/"), "unknown");
    // Block devices read like files; only root may open one.
    const opened = await Deno.open("/dev/loop0").then((f) => (f.close(), true), () => false);
    if (opened) assert.equal(await kindOf("/dev/loop0"), "file");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("bufferedWriter() write() of no bytes after a sink failure throws it too", async () => {
  const out = bufferedWriter({ write: () => Promise.reject(new Deno.errors.BrokenPipe("gone")) });
  await out.write(new Uint8Array([1]));
  await assert.rejects(out.flush(), Deno.errors.BrokenPipe);
  await assert.rejects(out.write(new Uint8Array(0)), Deno.errors.BrokenPipe);
});

Deno.test("stdoutWriter() keeps the order of writes and a flush issued while it inspects stdout", async () => {
  const dir = await Deno.makeTempDir();
  const code = `
    const out = stdio.stdoutWriter({ inspectAfterBytes: 4, bufferBytes: 64 });
    const text = (s) => new TextEncoder().encode(s);
    const done = [out.write(text("first line\\n"))];
    // The first write passed the inspection point: the next ones and flushes
    // arrive, spread over many turns, while stdout is being inspected.
    for (let i = 0; i < 200; i++) {
      done.push(out.write(text(i + "\\n")));
      if (i % 10 === 0) done.push(out.flush());
      // Microtask turns first: the inspection cannot finish before the loop yields.
      const turn = i >= 100 && i % 5 === 0;
      await (turn ? new Promise((resolve) => setTimeout(resolve, 0)) : Promise.resolve());
    }
    await Promise.all(done);
    await out.flush();`;
  try {
    const path = `${dir}/script.ts`;
    const file = `${dir}/out.txt`;
    await writeStdioScript(path, code);
    const out = await outputWithin(
      new Deno.Command("sh", {
        args: ["-c", `exec "${Deno.execPath()}" run -A "${path}" > "${file}"`],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
      60_000,
    );
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const expected = "first line\n" + Array.from({ length: 200 }, (_, i) => `${i}\n`).join("");
    assert.equal(await Deno.readTextFile(file), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stdoutWriter() into a full device throws the error from every later write and flush", async () => {
  const dir = await Deno.makeTempDir();
  const code = `
    const out = stdio.stdoutWriter({ inspectAfterBytes: 4 });
    const text = (s) => new TextEncoder().encode(s);
    const results = [];
    for (const step of [() => out.write(text("ab")), () => out.write(text("cdef")),
      () => out.write(text("g")), () => out.flush()]) {
      try {
        await step();
        results.push("ok");
      } catch (error) {
        results.push(error.code ?? error.name);
      }
    }
    Deno.stderr.writeSync(text(JSON.stringify(results)));`;
  try {
    const path = `${dir}/script.ts`;
    await writeStdioScript(path, code);
    const out = await outputWithin(
      new Deno.Command("sh", {
        args: ["-c", `exec "${Deno.execPath()}" run -A "${path}" > /dev/full`],
        stdout: "piped",
        stderr: "piped",
      }).spawn(),
      60_000,
    );
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, err);
    // The first write is accepted before the device refuses it; the write that
    // passes the inspection point waits for it and fails, and so does all after.
    const results = JSON.parse(err);
    assert.equal(results[0], "ok");
    assert.equal(results.slice(1).every((r: string) => r !== "ok"), true, err);
    assert.equal(new Set(results.slice(1)).size, 1, err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { bufferedWriter } from "../lib/net/stdio.ts";
import { outputWithin } from "./peers/cli.ts";
import { spawnStdioScript, writeStdioScript } from "./peers/stdio_script.ts";

/** A sink whose writes finish (or fail, or write part) only when the test says so. */
function manualSink() {
  const writes: Uint8Array[] = [];
  const pending: {
    data: Uint8Array;
    resolve: (n: number) => void;
    reject: (e: unknown) => void;
  }[] = [];
  return {
    writes,
    pending,
    sink: {
      write(data: Uint8Array): Promise<number> {
        writes.push(data.slice());
        return new Promise<number>((resolve, reject) => pending.push({ data, resolve, reject }));
      },
    },
    /** Finishes the oldest write, all of it or its first `count` bytes. */
    finish(count?: number) {
      const write = pending.shift()!;
      write.resolve(count ?? write.data.length);
    },
    fail(error: unknown) {
      pending.shift()!.reject(error);
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("bufferedWriter() pending() counts bytes in flight and buffered", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 8 });
  assert.equal(out.pending(), 0);
  await out.write(bytes(1, 2, 3));
  assert.equal(out.pending(), 3, "in flight");
  await out.write(bytes(4, 5));
  assert.equal(out.pending(), 5, "in flight and buffered");
  m.finish();
  await tick();
  assert.equal(out.pending(), 2, "the buffered bytes went out next");
  m.finish();
  await out.flush();
  assert.equal(out.pending(), 0);
  assert.deepEqual(m.writes, [bytes(1, 2, 3), bytes(4, 5)]);
});

Deno.test("bufferedWriter() retries a short write with the rest of the bytes", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 8 });
  await out.write(bytes(1, 2, 3, 4, 5));
  m.finish(2);
  await tick();
  assert.deepEqual(m.writes, [bytes(1, 2, 3, 4, 5), bytes(3, 4, 5)]);
  assert.equal(out.pending(), 5, "still in flight until every byte is written");
  m.finish();
  await out.flush();
  assert.equal(out.pending(), 0);
});

Deno.test("bufferedWriter() splits a write larger than both buffers and keeps the order", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 4 });
  let settled = false;
  const big = out.write(bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)).then((n) => (settled = true, n));
  await tick();
  assert.equal(settled, false, "10 bytes do not fit into 4 in flight and 4 buffered");
  for (let i = 0; i < 10 && !settled; i++) {
    if (m.pending.length > 0) m.finish();
    await tick();
  }
  assert.equal(await big, 10);
  while (m.pending.length > 0) {
    m.finish();
    await tick();
  }
  await out.flush();
  assert.deepEqual(m.writes.flatMap((w) => [...w]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(m.writes.every((w) => w.length <= 4), "no write is larger than a buffer");
});

Deno.test("bufferedWriter() rejects a write waiting for room when the sink fails", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 2 });
  await out.write(bytes(1, 2)); // in flight
  await out.write(bytes(3, 4)); // buffered: both buffers full
  const waiting = out.write(bytes(5));
  m.fail(new Deno.errors.BrokenPipe("reader went away"));
  await assert.rejects(waiting, Deno.errors.BrokenPipe);
  await tick();
  assert.equal(m.writes.length, 1, "nothing more is written after the failure");
  await assert.rejects(out.write(bytes(6)), Deno.errors.BrokenPipe);
});

Deno.test("bufferedWriter() flush() waiting for the sink throws its error", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 8 });
  await out.write(bytes(1));
  const flushed = out.flush();
  m.fail(new Deno.errors.ConnectionReset("reset"));
  await assert.rejects(flushed, Deno.errors.ConnectionReset);
});

Deno.test("bufferedWriter() flush() with an already aborted signal returns at once", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 8 });
  await out.flush(AbortSignal.abort()); // nothing in flight either
  await out.write(bytes(1, 2));
  await out.flush(AbortSignal.abort());
  assert.equal(out.pending(), 2, "the write is still in flight");
  m.finish();
  await out.flush();
  assert.equal(out.pending(), 0);
});

/**
 * Runs `code` (with `stdio` imported) in `deno run` placed by a shell command
 * line where DENO stands for it; returns its exit code, stdout and stderr.
 */
async function runIn(shell: string, code: string) {
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await writeStdioScript(path, code);
    // exec and timeout: the guard reaches the script itself even inside a pipeline.
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        shell.replaceAll("DENO", `exec timeout -s KILL 60 "${Deno.execPath()}" run -A "${path}"`),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = await outputWithin(child, 60_000);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    return { stdout: new TextDecoder().decode(out.stdout), stderr };
  } finally {
    await Deno.remove(path);
  }
}

/** Script: writes lines 0..count-1 through `stdoutWriter(OPTIONS)`, then reports on stderr. */
const WRITE_LINES = `
  const out = stdio.stdoutWriter(OPTIONS);
  const seen = [out.pending()];
  for (let i = 0; i < COUNT; i++) await out.write(new TextEncoder().encode(i + "\\n"));
  await out.flush();
  seen.push(out.pending());
  Deno.stderr.writeSync(new TextEncoder().encode(JSON.stringify(seen)));`;

const lines = (count: number) => Array.from({ length: count }, (_, i) => `${i}\n`).join("");

function writeLines(options: string, count: number) {
  return WRITE_LINES.replace("OPTIONS", options).replace("COUNT", String(count));
}

Deno.test("stdoutWriter() writes every byte in order for each kind it is told", async () => {
  const file = await Deno.makeTempFile();
  try {
    for (const kind of ["file", "device", "terminal", "pipe", "socket", "unknown"]) {
      const code = writeLines(`{ kind: "${kind}", bufferBytes: 64 }`, 2000);
      const piped = await runIn(`DENO | cat`, code);
      assert.equal(piped.stdout, lines(2000), `kind ${kind} into a pipe`);
      assert.equal(piped.stderr, "[0,0]", `kind ${kind}: nothing pending after flush`);
      await runIn(`DENO > "${file}"`, code);
      assert.equal(await Deno.readTextFile(file), lines(2000), `kind ${kind} into a file`);
    }
    await runIn(`DENO > /dev/null`, writeLines(`{ kind: "device" }`, 100));
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("stdoutWriter() detects a file after the first bytes and keeps the order across the switch", async () => {
  const file = await Deno.makeTempFile();
  try {
    // Small buffers and an early inspection: many writes before and after the switch.
    const code = writeLines(`{ bufferBytes: 256, inspectAfterBytes: 1000 }`, 5000) +
      `\nDeno.stderr.writeSync(new TextEncoder().encode(" " + await stdio.streamKind(1)));`;
    const toFile = await runIn(`DENO > "${file}"`, code);
    assert.equal(await Deno.readTextFile(file), lines(5000));
    assert.equal(toFile.stderr, "[0,0] file");
    const toPipe = await runIn(`DENO | cat`, code);
    assert.equal(toPipe.stdout, lines(5000));
    assert.equal(toPipe.stderr, "[0,0] pipe");
    await runIn(`DENO > /dev/null`, code);
    // Output that ends before the inspection point is flushed too.
    await runIn(`DENO > "${file}"`, writeLines(`{ inspectAfterBytes: 1 << 20 }`, 50));
    assert.equal(await Deno.readTextFile(file), lines(50));
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("stdoutWriter() and stdinReader() pick the terminal path on a terminal", async () => {
  // script(1) gives the child a pseudo-terminal for stdin and stdout.
  const code = `
    const kinds = [await stdio.streamKind(0), await stdio.streamKind(1)];
    const input = stdio.stdinReader();
    const before = input.mode();
    input.close();
    const out = stdio.stdoutWriter();
    await out.write(new TextEncoder().encode("on the tty\\n"));
    await out.flush();
    Deno.stderr.writeSync(new TextEncoder().encode(JSON.stringify([...kinds, before, out.pending()])));`;
  const { stdout } = await runIn(`script -qec 'DENO 2>&1' /dev/null < /dev/null`, code);
  assert.match(stdout, /on the tty\r?\n/);
  assert.match(stdout, /\["terminal","terminal","undecided",0\]/);
});

/** Script: reads stdin to the end with a `size`-byte buffer; prints mode, byte count and reads. */
const READ_ALL = `
  const input = stdio.stdinReader(OPTIONS);
  const modes = [input.mode()];
  const buffer = new Uint8Array(SIZE);
  const parts = [];
  for (let n; (n = await input.read(buffer)) !== null;) parts.push(new TextDecoder().decode(buffer.subarray(0, n)));
  modes.push(input.mode());
  input.close();
  console.log(JSON.stringify({ modes, text: parts.join(""), reads: parts.length }));`;

function readAll(options: string, size: number) {
  return READ_ALL.replace("OPTIONS", options).replace("SIZE", String(size));
}

Deno.test("stdinReader() reads a file, /dev/null and a pipe in the mode their kind asks for", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "hello from a file\n");
    const cases: [string, string, string, string][] = [
      [`DENO < "${file}"`, `{ kind: "file" }`, "sync", "hello from a file\n"],
      [`DENO < /dev/null`, `{ kind: "device" }`, "sync", ""],
      [`DENO < /dev/null`, `{}`, "sync", ""],
      [`printf 'typed' | DENO`, `{ kind: "terminal" }`, "async", "typed"],
      [`printf 'piped' | DENO`, `{ kind: "pipe" }`, "read-ahead", "piped"],
      [
        `printf 'unknown' | DENO`,
        `{ kind: "unknown", threadAfterBytes: Infinity }`,
        "read-ahead",
        "unknown",
      ],
    ];
    for (const [shell, options, mode, text] of cases) {
      const { stdout } = await runIn(shell, readAll(options, 4096));
      assert.deepEqual(JSON.parse(stdout), {
        modes: ["undecided", mode],
        text,
        reads: text === "" ? 0 : 1,
      }, `${shell} with ${options}`);
    }
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("stdinReader() hands a pipe read larger than the caller's buffer out in pieces", async () => {
  const { stdout } = await runIn(`printf 'abcdefghij' | DENO`, readAll(`{ kind: "pipe" }`, 3));
  const got = JSON.parse(stdout);
  assert.equal(got.text, "abcdefghij");
  assert.ok(got.reads >= 4, `3-byte buffer: at least 4 reads, got ${got.reads}`);
});

Deno.test("stdinReader() rejects a ring size that is not a power of two >= 4096", async () => {
  const code = `
    const results = [];
    for (const ringBytes of [1000, 4097, 2048]) {
      const input = stdio.stdinReader({ kind: "pipe", ringBytes });
      try {
        await input.read(new Uint8Array(16));
        results.push("read");
      } catch (error) {
        results.push(error.name + ": " + error.message);
      }
      input.close();
    }
    console.log(JSON.stringify(results));
    Deno.exit(0);`;
  const { stdout } = await runIn(`printf 'x' | DENO`, code);
  assert.deepEqual(JSON.parse(stdout), [
    "RangeError: invalid ringBytes 1000: must be a power of two >= 4096",
    "RangeError: invalid ringBytes 4097: must be a power of two >= 4096",
    "RangeError: invalid ringBytes 2048: must be a power of two >= 4096",
  ]);
});

Deno.test("stdinReader() close() during the first read still lets the process end", async () => {
  // Closing while the kind is still being detected must keep the reader that
  // arrives afterwards from starting its worker; the process then ends on its
  // own (a worker left waiting would keep it alive until the guard kills it).
  const code = `
    const input = stdio.stdinReader({ threadAfterBytes: 1 });
    const first = input.read(new Uint8Array(4));
    input.close();
    const n = await first;
    const after = await input.read(new Uint8Array(4));
    console.log(JSON.stringify([n, after, input.mode()]));`;
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    // Spawned without a shell so that the guard kills the script itself.
    const child = await spawnStdioScript(path, code);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("abcdefgh"));
    await writer.close();
    const out = await outputWithin(child, 30_000);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `the script ended on its own: ${stderr}`);
    const [n, after, mode] = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(n, 4, "the read in flight at close() hands out its bytes");
    assert.equal(after, null, "reads after close() end");
    assert.equal(mode, "read-ahead", "no worker took over");
  } finally {
    await Deno.remove(path);
  }
});

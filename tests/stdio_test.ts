import assert from "node:assert/strict";
import { bufferedWriter } from "../lib/net/stdio.ts";
import { startBuiltin } from "./peers/servers.ts";
import { cleanStderr, killAfter, runCli, spawnCli } from "./peers/cli.ts";
import { spawnStdioScript, writeStdioScript } from "./peers/stdio_script.ts";
import { sha256 } from "./peers/data.ts";

/** A sink whose writes finish only when the test says so. */
function manualSink() {
  const writes: Uint8Array[] = [];
  const pending: { resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  return {
    writes,
    pending,
    sink: {
      write(data: Uint8Array): Promise<number> {
        writes.push(data.slice());
        return new Promise<number>((resolve, reject) =>
          pending.push({ resolve: () => resolve(data.length), reject })
        );
      },
    },
    /** Finishes the oldest write. */
    finish() {
      pending.shift()!.resolve(0);
    },
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const bytes = (...values: number[]) => new Uint8Array(values);

Deno.test("bufferedWriter() writes at once, then coalesces what arrives during the write", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 16 });
  assert.equal(await out.write(bytes(1, 2)), 2);
  assert.deepEqual(m.writes, [bytes(1, 2)]);
  assert.equal(await out.write(bytes(3)), 1);
  assert.equal(await out.write(bytes(4, 5)), 2);
  assert.equal(m.writes.length, 1, "one write in flight at a time");
  m.finish();
  await tick();
  assert.deepEqual(m.writes, [bytes(1, 2), bytes(3, 4, 5)]);
  m.finish();
  await out.flush();
  assert.equal(m.pending.length, 0);
});

Deno.test("bufferedWriter() makes write() wait while both buffers are full", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 4 });
  await out.write(bytes(1, 2, 3, 4)); // in flight
  await out.write(bytes(5, 6, 7, 8)); // fills the other buffer
  let done = false;
  const third = out.write(bytes(9)).then(() => done = true);
  await tick();
  assert.equal(done, false, "no room: write() waits for the sink");
  m.finish();
  await third;
  assert.equal(done, true);
  m.finish();
  await tick();
  m.finish();
  await out.flush();
  assert.deepEqual(m.writes, [bytes(1, 2, 3, 4), bytes(5, 6, 7, 8), bytes(9)]);
});

Deno.test("bufferedWriter() throws the sink's error from the next write and from flush", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 8 });
  await out.write(bytes(1));
  m.pending.shift()!.reject(new Deno.errors.BrokenPipe("gone"));
  await tick();
  await assert.rejects(out.write(bytes(2)), Deno.errors.BrokenPipe);
  await assert.rejects(out.flush(), Deno.errors.BrokenPipe);
});

Deno.test("bufferedWriter() flush() gives up when its signal aborts", async () => {
  const m = manualSink();
  const out = bufferedWriter(m.sink, { bufferBytes: 8 });
  await out.write(bytes(1));
  await out.write(bytes(2)); // buffered behind the write in flight
  const controller = new AbortController();
  let returned = false;
  const flushed = out.flush(controller.signal).then(() => returned = true);
  await tick();
  assert.equal(returned, false, "flush() waits for the sink while it can");
  controller.abort();
  await flushed;
  assert.equal(returned, true, "flush() returns on abort");
  assert.equal(m.pending.length, 1, "the sink never finished its write");
  assert.deepEqual(m.writes, [bytes(1)]);
  m.finish();
});

/**
 * Runs `code` (with `stdio` imported) as a script inside a shell command line
 * where DENO stands for the script; returns its stdout, or its stderr when
 * stdout is redirected by the command line.
 */
async function evalIn(shell: string, code: string, from: "stdout" | "stderr" = "stdout") {
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await writeStdioScript(path, code);
    // timeout: the script may sit in a pipeline, where a kill of sh would not reach it.
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        shell.replace("DENO", `timeout -s KILL 60 "${Deno.execPath()}" run -A "${path}"`),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, err);
    return new TextDecoder().decode(from === "stdout" ? out.stdout : out.stderr).trim();
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("streamKind() tells a pipe, a file and /dev/null apart", async () => {
  const code = `const k = [await stdio.streamKind(0), await stdio.streamKind(1)];
    Deno.stderr.writeSync(new TextEncoder().encode(k.join(" ")));`;
  const file = await Deno.makeTempFile();
  try {
    assert.equal(await evalIn(`echo hi | DENO | cat`, code, "stderr"), "pipe pipe");
    assert.equal(await evalIn(`DENO < "${file}" > "${file}"`, code, "stderr"), "file file");
    assert.equal(await evalIn(`DENO < /dev/null > /dev/null`, code, "stderr"), "device device");
  } finally {
    await Deno.remove(file);
  }
});

const SUM = `
  const input = stdio.stdinReader({ threadAfterBytes: 100_000, ringBytes: 4096 });
  const buffer = new Uint8Array(7000);
  const parts = [];
  for (let n; (n = await input.read(buffer)) !== null;) parts.push(buffer.slice(0, n));
  const mode = input.mode();
  input.close();
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  console.log(mode, all.length, Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join(""));
  Deno.exit(0);`;

/**
 * Runs `code` (with `stdio` imported) with stdin piped from this test: `first`
 * goes in at once, `rest` only once the script wrote "ready" on stderr.
 */
async function evalFed(code: string, first: Uint8Array, rest: Uint8Array) {
  const path = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const child = await spawnStdioScript(path, code);
    killAfter(child, 60_000); // a test bug guard
    const stdout = new Response(child.stdout).text();
    const errLines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const writer = child.stdin.getWriter();
    await writer.write(first);
    let err = "";
    while (!err.includes("ready\n")) {
      const { value, done } = await errLines.read();
      if (done) break;
      err += value;
    }
    await writer.write(rest);
    await writer.close();
    for (let r = await errLines.read(); !r.done; r = await errLines.read()) err += r.value;
    const { code: exit } = await child.status;
    assert.equal(exit, 0, err);
    return { out: (await stdout).trim(), err };
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("stdinReader() reads a pipe in order, across the hand-over to its worker thread", async () => {
  const data = new Uint8Array(3_000_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  // The rest of the input arrives only once the worker is ready (not after a
  // guessed pause); the small ring then wraps hundreds of times.
  const code = SUM.replace(
    "ringBytes: 4096 }",
    `ringBytes: 4096,
    onThreadReady: () => Deno.stderr.writeSync(new TextEncoder().encode("ready\\n")) }`,
  );
  const { out, err } = await evalFed(code, data.subarray(0, 200_000), data.subarray(200_000));
  assert.equal(out, `thread ${data.length} ${await sha256(data)}`);
  assert.equal(err, "ready\n");
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, data);
    // A regular file takes the synchronous path.
    assert.equal(
      await evalIn(`DENO < "${file}"`, SUM),
      `sync ${data.length} ${await sha256(data)}`,
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("stdinReader() keeps timers running while a pipe has no data", async () => {
  // Enough input to start the worker; the rest only once the worker is ready
  // (the shell waits for the file its onThreadReady creates), so that it is
  // handed over between two reads; then an open pipe with nothing in it.
  const dir = await Deno.makeTempDir();
  const ready = `${dir}/ready`;
  const code = `
    const input = stdio.stdinReader({
      threadAfterBytes: 1000,
      ringBytes: 4096,
      onThreadReady: () => Deno.writeTextFileSync(${JSON.stringify(ready)}, ""),
    });
    const buffer = new Uint8Array(4096);
    let total = 0;
    const reading = (async () => { for (let n; (n = await input.read(buffer)) !== null;) total += n; })();
    while (total < 40000) await new Promise((r) => setTimeout(r, 5));
    // The pipe now stays silent for 4 s: a 200 ms timer must fire on time, not
    // when the pipe closes (a blocking read would hold it that long).
    const started = performance.now();
    await new Promise((r) => setTimeout(r, 200));
    const late = performance.now() - started;
    console.log(input.mode(), total, late < 2000 ? "timer ran" : \`late: \${late} ms\`);
    Deno.exit(0);`;
  try {
    // The wait for the worker is bounded (30 s); the test then fails on "read-ahead".
    const out = await evalIn(
      `(head -c 20000 /dev/zero; for i in $(seq 600); do [ -e "${ready}" ] && break; sleep 0.05; done; ` +
        `head -c 20000 /dev/zero; exec sleep 4) | DENO`,
      code,
    );
    assert.equal(out, "thread 40000 timer ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stdinReader() hands over a full pipe read even when the input then pauses", async () => {
  // The worker wakes the loop only while the loop waits: a read that exactly
  // fills the pipe (64 KiB) and is followed by silence must still reach the
  // loop while the pipe stays open, not when it closes. (Holding such reads
  // back to batch wake-ups was measured and failed this without a timer.)
  const dir = await Deno.makeTempDir();
  const ready = `${dir}/ready`;
  const done = `${dir}/done`;
  const handed = `${dir}/handed`;
  const code = `
    const input = stdio.stdinReader({
      threadAfterBytes: 1000,
      onThreadReady: () => Deno.writeTextFileSync(${JSON.stringify(ready)}, ""),
    });
    const buffer = new Uint8Array(1 << 18);
    let total = 0;
    const reading = (async () => {
      for (let n; (n = await input.read(buffer)) !== null;) {
        total += n;
        if (total >= 21000 + 65536) return "in time";
      }
      return "only at the end of input";
    })();
    // The shell sends the 64 KiB only once the worker reads the pipe.
    while (input.mode() !== "thread") await new Promise((r) => setTimeout(r, 5));
    Deno.writeTextFileSync(${JSON.stringify(handed)}, "");
    const late = new Promise((r) => setTimeout(() => r("late"), 5000));
    const verdict = await Promise.race([reading, late]);
    Deno.writeTextFileSync(${JSON.stringify(done)}, "");
    console.log(input.mode(), total, verdict);
    Deno.exit(0);`;
  try {
    const out = await evalIn(
      `(head -c 20000 /dev/zero; for i in $(seq 600); do [ -e "${ready}" ] && break; sleep 0.05; done; ` +
        `head -c 1000 /dev/zero; for i in $(seq 600); do [ -e "${handed}" ] && break; sleep 0.05; done; ` +
        // One write of exactly a pipe's capacity: the worker's read fills up.
        `dd if=/dev/zero bs=65536 count=1 status=none; ` +
        `for i in $(seq 200); do [ -e "${done}" ] && break; sleep 0.05; done) | DENO`,
      code,
    );
    assert.equal(out, `thread ${21000 + 65536} in time`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcpc sends a large piped stdin and writes the whole echo to a piped stdout", async () => {
  await using server = await startBuiltin("echo");
  const data = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 40503) >>> 8;
  const result = await runCli(["127.0.0.1", String(server.port), "-w", "5s"], { stdin: data });
  assert.equal(result.code, 0, result.err);
  assert.equal(result.stdout.length, data.length);
  assert.equal(await sha256(result.stdout.slice()), await sha256(data));
});

/**
 * Runs the CLI against a chargen server and stops reading its stdout after
 * the first chunk (the data flows, then the pipe and tcpc's buffers fill);
 * optionally sends `signal` once stalled. Returns how the run ended.
 */
async function stalledStdout(flags: string[], signal?: Deno.Signal) {
  await using server = await startBuiltin("chargen");
  const child = spawnCli(["127.0.0.1", String(server.port), ...flags], { killAfterMs: 30_000 });
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  try {
    assert.equal((await reader.read()).done, false, "the data flows first");
    if (signal !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      child.kill(signal);
    }
    const { code } = await child.status;
    return { code, err: cleanStderr(await stderr) };
  } finally {
    await reader.cancel();
  }
}

Deno.test("tcpc ends on its idle timeout while nobody reads its stdout", async () => {
  // No byte moves either way once stdout stalls: -i fires, exit 4, at once
  // (bytes tcpc buffered for stdout are dropped: the deadline bounds the run).
  const idle = await stalledStdout(["-i", "1s"]);
  assert.equal(idle.code, 4, idle.err);
  assert.match(idle.err, /idle timeout: no traffic for 1s \(--idle-timeout\)/);
  // -t: a write to stdout that waits longer than DUR is a stalled write too.
  const io = await stalledStdout(["-t", "1s"]);
  assert.equal(io.code, 4, io.err);
  assert.match(io.err, /io timeout: a write to the output waited for 1s \(--timeout\)/);
});

Deno.test("tcpc answers SIGINT while nobody reads its stdout", async () => {
  // Without a deadline tcpc waits for its reader as long as it takes, like cat,
  // but the loop keeps running: Ctrl-C ends the run (exit 130).
  const run = await stalledStdout([], "SIGINT");
  assert.equal(run.code, 130, run.err);
});

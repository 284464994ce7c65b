/**
 * Faults created for real against the CLI (`deno run -P main.ts`): a peer that
 * resets mid-stream, closes before reading, accepts and never reads, never
 * answers the SYN (full backlog; a DROP rule in a private network namespace),
 * a stdout closed early, and SIGINT/SIGTERM mid-transfer. Each must end with
 * its exit code and one line on stderr, without a stack trace.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cleanStderr, killAfter, outputWithin, REPO } from "./peers/cli.ts";
import { startHanging } from "./peers/servers.ts";
import {
  canKillSockets,
  startCloser,
  startFlooder,
  startNeverReader,
  startResetter,
  startSendAndHold,
} from "./peers/faulty.ts";
import { blackholeAvailable, runInBlackhole } from "./peers/blackhole.ts";

const decoder = new TextDecoder();

/**
 * Spawns the CLI with stdin piped, RUST_BACKTRACE set (the CLI must still print
 * none); it is killed after 60 s (a test bug guard).
 */
function spawn(args: string[], stdin: "piped" | "null" = "piped"): Deno.ChildProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", "main.ts", ...args],
    cwd: REPO,
    env: { RUST_BACKTRACE: "1" },
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  killAfter(child, 60_000);
  return child;
}

/** Reads a stream to its end in the background; `until(n)` waits for n bytes. */
function collect(stream: ReadableStream<Uint8Array>) {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let wake = () => {};
  const done = (async () => {
    for await (const chunk of stream) {
      chunks.push(chunk);
      length += chunk.length;
      wake();
    }
    wake();
  })();
  let ended = false;
  done.finally(() => ended = true);
  return {
    get length() {
      return length;
    },
    async until(n: number, timeoutMs = 20_000): Promise<void> {
      const stopAt = performance.now() + timeoutMs;
      while (length < n && !ended) {
        if (performance.now() > stopAt) throw new Error(`only ${length} of ${n} bytes came`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 200);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
    async bytes(): Promise<Uint8Array> {
      await done;
      const all = new Uint8Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        all.set(chunk, offset);
        offset += chunk.length;
      }
      return all;
    },
  };
}

/** Asserts the one-line, no-trace stderr contract and returns that line. */
function oneLine(stderrBytes: Uint8Array): string {
  const err = cleanStderr(decoder.decode(stderrBytes));
  assert.doesNotMatch(err, /Stack backtrace|Uncaught|\bat .+:\d+:\d+|error: /, err);
  const lines = err.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `one line on stderr expected, got ${JSON.stringify(err)}`);
  return lines[0] ?? "";
}

function pattern(length: number, seed: number): Uint8Array {
  // xorshift32: fast and fixed, so a failure is reproducible.
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const noKill = await canKillSockets();

Deno.test({
  name: "tcpc writes every byte that came before a reset mid-stream, then exits 1" +
    (noKill === null ? "" : ` (skipped: ${noKill})`),
  ignore: noKill !== null,
}, async () => {
  const payload = pattern(1024 * 1024, 7);
  await using peer = startResetter(payload);
  const child = spawn(["127.0.0.1", String(peer.port), "-t", "20s"]);
  const out = collect(child.stdout);
  const writer = child.stdin.getWriter();
  try {
    await out.until(payload.length);
    // The peer reads one byte of this, closes with the rest unread: RST.
    await writer.write(new TextEncoder().encode("go on\n"));
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).bytes(),
    ]);
    const line = oneLine(stderr);
    assert.equal(status.code, 1, line);
    assert.match(line, /^tcpc: read "127\.0\.0\.1:\d+": connection reset by peer$/);
    const got = await out.bytes();
    assert.equal(got.length, payload.length);
    assert.deepEqual(got, payload);
  } finally {
    await writer.close().catch(() => {});
  }
});

Deno.test("tcpc reports a peer that closes before reading the input: exit 1", async (t) => {
  const file = await Deno.makeTempFile({ prefix: "tcpc_faults_" });
  try {
    await Deno.writeFile(file, pattern(4 * 1024 * 1024, 11));
    await using peer = startCloser();
    for (const how of ["--file", "stdin"] as const) {
      await t.step(`input from ${how}`, async () => {
        const args = ["127.0.0.1", String(peer.port), "-t", "10s"];
        const child = how === "--file"
          ? spawn([...args, "-f", file], "null")
          : new Deno.Command("sh", {
            args: ["-c", `exec "$0" run -P main.ts "$@" < "${file}"`, Deno.execPath(), ...args],
            cwd: REPO,
            env: { RUST_BACKTRACE: "1" },
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
          }).spawn();
        const { code, stdout, stderr } = await outputWithin(child, 60_000);
        const line = oneLine(stderr);
        assert.equal(code, 1, line);
        assert.match(
          line,
          /^tcpc: write "127\.0\.0\.1:\d+": (peer closed the connection before reading all data|connection reset by peer)$/,
        );
        assert.equal(stdout.length, 0);
      });
    }
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("tcpc -t fires when the peer accepts but never reads: exit 4", async () => {
  await using peer = startNeverReader();
  // /dev/zero never ends: the socket buffers fill and the write blocks.
  const started = performance.now();
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `exec "$0" run -P main.ts 127.0.0.1 "$1" -t 1s < /dev/zero`,
      Deno.execPath(),
      String(peer.port),
    ],
    cwd: REPO,
    env: { RUST_BACKTRACE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stderr } = await outputWithin(child, 60_000);
  const ms = performance.now() - started;
  const line = oneLine(stderr);
  assert.equal(code, 4, line);
  assert.match(line, /^tcpc: session "127\.0\.0\.1:\d+": io timeout: .* 1s \(--timeout\)$/);
  assert.ok(ms < 15_000, `took ${ms} ms`);
  assert.equal(peer.accepted, 1);
});

Deno.test("tcpc -w fires when the listener's backlog is full (no SYN-ACK): exit 4", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const started = performance.now();
  const child = spawn(["127.0.0.1", String(hanging.port), "-w", "1s"], "null");
  const { code, stderr } = await child.output();
  const ms = performance.now() - started;
  const line = oneLine(stderr);
  assert.equal(code, 4, line);
  assert.match(
    line,
    /^tcpc: connect "127\.0\.0\.1:\d+": timed out after 1s \(--connect-timeout\)$/,
  );
  assert.ok(ms >= 1000, `took ${ms} ms`);
});

const blackhole = await blackholeAvailable();

Deno.test({
  name: "tcpc gives up on a blackholed peer in a private network namespace: exit 4" +
    (blackhole.ok ? "" : ` (skipped: ${blackhole.why})`),
  ignore: !blackhole.ok,
  async fn(t) {
    await t.step("control: without the DROP rule the closed port refuses (exit 1)", async () => {
      const result = await runInBlackhole(["127.0.0.1", "9", "-w", "5s"], { drop: false });
      const line = oneLine(result.stderr);
      assert.equal(result.code, 1, line);
      assert.match(line, /connection refused$/);
    });
    await t.step("-w 1s fires", async () => {
      const result = await runInBlackhole(["127.0.0.1", "9", "-w", "1s"]);
      const line = oneLine(result.stderr);
      assert.equal(result.code, 4, line);
      assert.match(line, /^tcpc: connect "127\.0\.0\.1:9": timed out after 1s/);
      assert.ok(result.ms >= 1000 && result.ms < 10_000, `took ${result.ms} ms`);
    });
    await t.step("without -w the kernel's limit applies (tcp_syn_retries=1: ~3 s)", async () => {
      const result = await runInBlackhole(["127.0.0.1", "9"], { synRetries: 1 });
      const line = oneLine(result.stderr);
      assert.equal(result.code, 4, line);
      assert.match(
        line,
        /^tcpc: connect "127\.0\.0\.1:9": the kernel gave up after 1 SYN retries .*tcp_syn_retries/,
      );
      assert.ok(result.ms >= 2500 && result.ms < 15_000, `took ${result.ms} ms`);
    });
  },
});

Deno.test("tcpc exits quietly when stdout closes early (| head -c 1)", async () => {
  await using peer = startFlooder();
  const errFile = await Deno.makeTempFile({ prefix: "tcpc_faults_err_" });
  try {
    const { stdout } = await new Deno.Command("bash", {
      args: [
        "-c",
        // timeout: the CLI sits in a pipeline, where a kill of bash would not reach it.
        `timeout -s KILL 60 "$0" run -P main.ts 127.0.0.1 "$1" -t 10s --deadline 30s 2>"$2" </dev/null | head -c 1; ` +
        `echo " \${PIPESTATUS[0]}"`,
        Deno.execPath(),
        String(peer.port),
        errFile,
      ],
      cwd: REPO,
      env: { RUST_BACKTRACE: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = decoder.decode(stdout);
    assert.match(text, /^A 0\n$/, `head's byte then the CLI's exit code: ${JSON.stringify(text)}`);
    const err = cleanStderr(await Deno.readTextFile(errFile));
    assert.equal(err, "", "nothing on stderr");
  } finally {
    await Deno.remove(errFile);
  }
});

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`tcpc on ${signal} mid-transfer flushes what came, closes the socket, exits ${code}`, async () => {
    const payload = pattern(3 * 1024 * 1024 + 17, 3);
    await using peer = startSendAndHold(payload);
    const child = spawn(["127.0.0.1", String(peer.port)]);
    const out = collect(child.stdout);
    const writer = child.stdin.getWriter();
    try {
      await out.until(payload.length);
      assert.equal(peer.clientGone, 0, "the connection is still up");
      child.kill(signal);
      const [status, stderr] = await Promise.all([
        child.status,
        new Response(child.stderr).bytes(),
      ]);
      const line = oneLine(stderr);
      assert.equal(status.code, code, line);
      assert.equal(line, `tcpc: interrupted by ${signal}`);
      assert.deepEqual(await out.bytes(), payload);
      // The peer saw the close (its read ended) - not left half-open.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gone = await Promise.race([
        peer.firstClientGone.then(() => true),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 5000)),
      ]);
      clearTimeout(timer);
      assert.ok(gone, "the peer saw the socket close");
    } finally {
      await writer.close().catch(() => {});
    }
  });
}

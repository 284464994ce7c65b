/**
 * Integrity under load: random bytes piped through the real CLI in session
 * mode (stdin -> socket -> echo peer -> socket -> stdout, then half-close)
 * arrive sha256-identical, through socat's echo, the built-in server, and a
 * slow peer that reads in small chunks with pauses; the CLI's peak memory
 * (VmHWM, polled from /proc) stays far below the data size, so nothing is
 * buffered whole. Heavy on a 2-core machine: one test per peer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cleanStderr, killAfter, REPO } from "./peers/cli.ts";
import { type Peer, startBuiltin, startProcess } from "./peers/servers.ts";
import { startSlowEcho } from "./peers/faulty.ts";

const MiB = 1024 * 1024;

/** sha256 of a file, by sha256sum (streams; fast). */
async function sha256File(path: string): Promise<string> {
  const { code, stdout } = await new Deno.Command("sha256sum", {
    args: [path],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  return new TextDecoder().decode(stdout).split(" ")[0] ?? "";
}

/** A temp file of `size` random bytes from /dev/urandom (via head -c). */
async function randomFile(size: number): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "tcpc_integrity_" });
  const { code } = await new Deno.Command("sh", {
    args: ["-c", `head -c ${size} /dev/urandom > "$0"`, path],
    stdin: "null",
  }).output();
  assert.equal(code, 0);
  return path;
}

/** Peak resident memory of a process in KiB (VmHWM), or undefined once it is gone. */
async function peakKiB(pid: number): Promise<number | undefined> {
  const { code, stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  if (code !== 0) return undefined;
  const match = /^VmHWM:\s+(\d+) kB/m.exec(new TextDecoder().decode(stdout));
  return match ? Number(match[1]) : undefined;
}

interface Transfer {
  code: number;
  bytes: number;
  sha256: string;
  stderr: string;
  peakMiB: number;
  seconds: number;
}

/**
 * Pipes `file` into `tcpc 127.0.0.1 PORT` (stdin EOF -> half-close), hashes
 * stdout as it streams, and polls the CLI's VmHWM every 200 ms.
 */
async function transfer(file: string, port: number, extra: string[] = []): Promise<Transfer> {
  const started = performance.now();
  const child = new Deno.Command("sh", {
    // exec: the pid we poll is the CLI's own.
    args: [
      "-c",
      `p="$1"; shift; exec "$0" run -P main.ts 127.0.0.1 "$p" "$@" < "${file}"`,
      Deno.execPath(),
      String(port),
      ...extra,
    ],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  killAfter(child, 300_000);
  let peak = 0;
  let running = true;
  const poller = (async () => {
    while (running) {
      const kib = await peakKiB(child.pid);
      if (kib !== undefined) peak = Math.max(peak, kib);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  const hash = createHash("sha256");
  let bytes = 0;
  const hashing = (async () => {
    for await (const chunk of child.stdout) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  })();
  const stderr = new Response(child.stderr).text();
  const status = await child.status;
  running = false;
  await Promise.all([poller, hashing]);
  return {
    code: status.code,
    bytes,
    sha256: hash.digest("hex"),
    stderr: cleanStderr(await stderr),
    peakMiB: peak / 1024,
    seconds: (performance.now() - started) / 1000,
  };
}

async function checkIntegrity(
  startPeer: () => Promise<Peer> | Peer,
  size: number,
  maxPeakMiB: number,
  label: string,
): Promise<void> {
  const file = await randomFile(size);
  try {
    const expected = await sha256File(file);
    await using peer = await startPeer();
    // -t: a stalled transfer fails the test instead of hanging it.
    const result = await transfer(file, peer.port, ["-t", "30s"]);
    const measured = `${label}: ${size / MiB} MiB in ${result.seconds.toFixed(1)} s, ` +
      `peak RSS ${result.peakMiB.toFixed(0)} MiB`;
    assert.equal(result.code, 0, `${measured}: ${result.stderr}`);
    assert.equal(result.stderr, "");
    assert.equal(result.bytes, size);
    assert.equal(result.sha256, expected);
    assert.ok(result.peakMiB > 0, "the CLI's memory was sampled");
    assert.ok(
      result.peakMiB < maxPeakMiB,
      `${measured}, over ${maxPeakMiB} MiB: input is being buffered`,
    );
  } finally {
    await Deno.remove(file);
  }
}

// The CLI's own footprint is ~60-90 MiB; a client that buffered the input (or
// the reply) whole would need at least the data size on top.
const SIZE = 256 * MiB;
const MAX_PEAK_MIB = 192;

// socat's PIPE echo is one pipe that socat both writes and reads. With its
// default 8 KiB blocks, a blocking write of 8 KiB into a pipe that select()
// called writable (one free 4 KiB page) can block forever, since socat itself
// is the only reader: socat deadlocks (seen here: the child stuck in
// anon_pipe_write, the client's write timing out). Blocks of one page (-b
// 4096) always fit once the pipe is writable.
function startSocatEcho(): Promise<Peer> {
  return startProcess("socat", (port) => [
    "-b",
    "4096",
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
    "PIPE",
  ]);
}

Deno.test("tcpc moves 256 MiB through socat's echo sha256-identical, memory bounded", async () => {
  await checkIntegrity(startSocatEcho, SIZE, MAX_PEAK_MIB, "socat PIPE");
});

Deno.test("tcpc moves 256 MiB through the built-in echo sha256-identical, memory bounded", async () => {
  await checkIntegrity(() => startBuiltin("echo"), SIZE, MAX_PEAK_MIB, "built-in echo");
});

// A slow reader: 8 KiB reads with a 1 ms pause after every other read. The
// client reads stdin far faster than that, so only backpressure keeps its
// memory flat (~60 MiB measured); buffering the 64 MiB would exceed the bound.
const SLOW_SIZE = 64 * MiB;
const SLOW_MAX_PEAK_MIB = 112;

Deno.test("tcpc moves 64 MiB through a slow echo peer intact, memory bounded", async () => {
  await checkIntegrity(
    () => startSlowEcho({ chunk: 8192, delayMs: 1, every: 2 }),
    SLOW_SIZE,
    SLOW_MAX_PEAK_MIB,
    "slow echo",
  );
});

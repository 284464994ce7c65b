import assert from "node:assert/strict";
import { cleanStderr, killAfter, outputWithin, REPO, runCli, spawnCli } from "./peers/cli.ts";
import { freePort, startBuiltin, startHanging, startSocat } from "./peers/servers.ts";
import { planConnect } from "../lib/cli/connect.ts";
import { resolve } from "../lib/net/dial.ts";
import { UsageError } from "../lib/errors.ts";
import { randomBytes, sha256 } from "./peers/data.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An in-process peer that accepts, optionally sends `greeting`, then stays open and silent. */
function silentPeer(greeting = "") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      if (greeting) await conn.write(encoder.encode(greeting)).catch(() => 0);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop.catch(() => {});
      for (const conn of conns) conn.close();
    },
  };
}

/** Runs the CLI with stdin held open (never EOF) until it exits by itself. */
async function runHeldOpen(args: string[], send = "") {
  const child = spawnCli(args, { stdin: "", killAfterMs: 30_000 });
  const writer = child.stdin.getWriter();
  if (send) await writer.write(encoder.encode(send));
  const started = performance.now();
  try {
    const { code, stdout, stderr } = await child.output();
    return {
      code,
      out: decoder.decode(stdout),
      err: cleanStderr(decoder.decode(stderr)),
      ms: performance.now() - started,
    };
  } finally {
    await writer.close().catch(() => {});
  }
}

/** Asserts every field and type of a `--json` record. */
// deno-lint-ignore no-explicit-any
function assertRecordShape(record: any): void {
  assert.deepEqual(Object.keys(record).sort(), [
    "addresses",
    "bytesReceived",
    "bytesSent",
    "close",
    "data",
    "error",
    "local",
    "proxy",
    "remote",
    "target",
    "timings",
    "tls",
  ]);
  assert.deepEqual(Object.keys(record.target).sort(), ["host", "port"]);
  assert.equal(typeof record.target.host, "string");
  assert.equal(typeof record.target.port, "number");
  assert.ok(Array.isArray(record.addresses));
  for (const a of record.addresses) assert.equal(typeof a, "string");
  for (const key of ["remote", "local"]) {
    assert.ok(
      record[key] === null || /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):\d+$/.test(record[key]),
    );
  }
  assert.deepEqual(Object.keys(record.timings).sort(), [
    "connectMs",
    "firstByteMs",
    "proxyMs",
    "resolveMs",
    "tlsMs",
    "totalMs",
  ]);
  assert.equal(record.proxy, null, "no proxy was asked for");
  assert.equal(record.tls, null, "no TLS was asked for");
  for (const key of ["resolveMs", "connectMs", "firstByteMs", "proxyMs", "tlsMs"]) {
    const value = record.timings[key];
    assert.ok(value === null || (typeof value === "number" && value >= 0), `${key}: ${value}`);
  }
  assert.ok(typeof record.timings.totalMs === "number" && record.timings.totalMs >= 0);
  assert.ok(Number.isInteger(record.bytesSent) && record.bytesSent >= 0);
  assert.ok(Number.isInteger(record.bytesReceived) && record.bytesReceived >= 0);
  const dataKeys = Object.keys(record.data);
  assert.ok(
    (dataKeys.length === 1 && typeof record.data.text === "string") ||
      (dataKeys.length === 1 && typeof record.data.base64 === "string"),
    JSON.stringify(record.data),
  );
  assert.ok(
    [null, "eof", "error", "timeout", "local", "aborted"].includes(record.close),
    record.close,
  );
  if (record.error !== null) {
    assert.equal(typeof record.error.kind, "string");
    assert.equal(typeof record.error.message, "string");
    for (const key of Object.keys(record.error)) {
      assert.ok(["kind", "message", "timer"].includes(key));
    }
  }
}

function parseRecord(out: string) {
  const lines = out.split("\n");
  assert.equal(lines.length, 2, `one JSON line expected: ${JSON.stringify(out)}`);
  assert.equal(lines[1], "");
  const record = JSON.parse(lines[0] ?? "");
  assertRecordShape(record);
  return record;
}

Deno.test("tcpc echoes stdin through the built-in server to stdout", async () => {
  await using peer = await startBuiltin();
  const r = await runCli(["127.0.0.1", String(peer.port)], { stdin: "hello\nworld\n" });
  assert.equal(r.err, "");
  assert.equal(r.out, "hello\nworld\n");
  assert.equal(r.code, 0);
  const viaConnect = await runCli(["connect", "127.0.0.1", String(peer.port), "-d", "x\\ty"]);
  assert.deepEqual([viaConnect.code, viaConnect.out, viaConnect.err], [0, "x\ty", ""]);
});

Deno.test("tcpc reads a reply that only comes after its EOF (socat EXEC:sort)", async () => {
  await using peer = await startSocat("EXEC:sort");
  const r = await runCli(["127.0.0.1", String(peer.port), "-w", "2s", "-i", "5s"], {
    stdin: "pear\napple\nfig\n",
  });
  assert.equal(r.err, "");
  assert.equal(r.out, "apple\nfig\npear\n");
  assert.equal(r.code, 0);
});

Deno.test("tcpc exits 1 on a refused port with one line naming the address", async () => {
  const port = freePort();
  const r = await runCli(["127.0.0.1", String(port), "-d", "x"]);
  assert.equal(r.code, 1);
  assert.equal(r.out, "");
  assert.equal(r.err, `tcpc: connect "127.0.0.1:${port}": connection refused\n`);
  const json = await runCli(["127.0.0.1", String(port), "--json"]);
  assert.equal(json.code, 1);
  const record = parseRecord(json.out);
  assert.equal(record.close, null);
  assert.equal(record.remote, null);
  assert.equal(record.timings.connectMs, null);
  assert.deepEqual(record.error, {
    kind: "refused",
    message: `connect "127.0.0.1:${port}": connection refused`,
  });
});

Deno.test("tcpc exits 4 on a hanging connect at -w, by its own clock", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const r = await runCli(["127.0.0.1", String(hanging.port), "-w", "2s", "--json"]);
  assert.equal(r.code, 4, r.err);
  const record = parseRecord(r.out);
  // totalMs excludes process start-up: the honest measure of the deadline. The
  // upper bound is wide (a loaded CI machine); bench/ tracks the precision.
  assert.ok(
    record.timings.totalMs >= 1990 && record.timings.totalMs <= 4000,
    `totalMs ${record.timings.totalMs}`,
  );
  assert.deepEqual(record.error, {
    kind: "timeout",
    message: `connect "127.0.0.1:${hanging.port}": timed out after 2s (--connect-timeout)`,
    timer: "connect",
  });
  assert.equal(r.err, `tcpc: ${record.error.message}\n`);
});

Deno.test("tcpc exits 4 on idle, first-byte, io and whole-run timeouts, naming the timer", async () => {
  await using peer = silentPeer();
  const port = String(peer.port);
  const table: [string[], string][] = [
    [["-i", "500ms"], "idle timeout: no traffic for 500ms (--idle-timeout)"],
    [
      ["--first-byte-timeout", "500ms"],
      "first-byte timeout: no data for 500ms (--first-byte-timeout)",
    ],
    [["-t", "500ms"], "io timeout: a read waited for 500ms (--timeout)"],
    [["--deadline", "500ms"], "(--deadline)"],
  ];
  for (const [flags, message] of table) {
    const r = await runHeldOpen(["127.0.0.1", port, ...flags], "ping\n");
    assert.equal(r.code, 4, `${flags}: ${r.err}`);
    assert.equal(r.out, "");
    assert.ok(r.err.startsWith("tcpc: ") && r.err.includes(message), r.err);
    assert.equal(r.err.split("\n").length, 2, r.err);
    assert.ok(r.ms >= 500 && r.ms < 5000, `${flags}: ${r.ms} ms`);
  }
  const json = await runHeldOpen(["127.0.0.1", port, "-i", "300ms", "--json"], "ping\n");
  assert.equal(json.code, 4);
  const record = parseRecord(json.out);
  assert.equal(record.close, "timeout");
  assert.equal(record.bytesSent, 5);
  assert.equal(record.error.kind, "timeout");
  assert.equal(record.error.timer, "idle");
});

Deno.test("tcpc -q quits after stdin EOF while the peer stays open, keeping the reply", async () => {
  await using peer = silentPeer("welcome\n");
  const started = performance.now();
  const r = await runCli(["127.0.0.1", String(peer.port), "-q", "500ms", "--json"], {
    stdin: "hi\n",
  });
  assert.equal(r.code, 0, r.err);
  const record = parseRecord(r.out);
  assert.equal(record.close, "local");
  assert.equal(record.error, null);
  assert.deepEqual(record.data, { text: "welcome\n" });
  assert.equal(record.bytesSent, 3);
  assert.ok(record.timings.totalMs >= 490 && record.timings.totalMs < 2000);
  assert.ok(performance.now() - started < 10_000);
});

Deno.test("tcpc -d, -f, -C and -z send what they say", async () => {
  await using peer = await startBuiltin();
  const port = String(peer.port);
  const data = await runCli(["127.0.0.1", port, "-d", "a\\x41\\\\\\r\\n"]);
  assert.deepEqual([data.code, data.out], [0, "aA\\\r\n"]);
  const dir = await Deno.makeTempDir();
  try {
    const bytes = randomBytes(300_000);
    await Deno.writeFile(`${dir}/in.bin`, bytes);
    const file = await runCli(["127.0.0.1", port, "-f", `${dir}/in.bin`]);
    assert.equal(file.code, 0, file.err);
    assert.equal(await sha256(file.stdout), await sha256(bytes));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const crlf = await runCli(["127.0.0.1", port, "-C"], { stdin: "a\nb\r\nc\n" });
  assert.deepEqual([crlf.code, crlf.out], [0, "a\r\nb\r\nc\r\n"]);
  const zero = await runCli(["127.0.0.1", port, "-z"], { stdin: "ignored\n" });
  assert.deepEqual([zero.code, zero.out, zero.err], [0, "", ""]);
  const zeroJson = parseRecord((await runCli(["127.0.0.1", port, "-z", "--json"])).out);
  assert.equal(zeroJson.close, "local");
  assert.equal(zeroJson.bytesSent, 0);
  assert.equal(zeroJson.remote, `127.0.0.1:${port}`);
  assert.ok(zeroJson.timings.connectMs >= 0);
});

Deno.test("tcpc -v states the kernel's connect limit and warns when -w exceeds it", async () => {
  await using peer = await startBuiltin();
  const r = await runCli(["127.0.0.1", String(peer.port), "-z", "-v"]);
  assert.equal(r.code, 0);
  assert.match(
    r.err,
    /^\[tcpc \(\d+\)\] connect timeout: none \(kernel gives up after [\d.]+ ?s.*tcp_syn_retries=\d+/m,
  );
  assert.match(r.err, /^\[tcpc \(\d+\)\] connected to 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+/m);
  const quiet = await runCli(["127.0.0.1", String(peer.port), "-z", "-w", "1s"]);
  assert.equal(quiet.err, "");
  const long = await runCli(["127.0.0.1", String(peer.port), "-z", "-w", "1h"]);
  assert.equal(long.code, 0);
  assert.match(long.err, /--connect-timeout \S+ exceeds the kernel's limit/);
  assert.equal(long.err.split("\n").length, 2, long.err);
});

Deno.test("tcpc -vv logs sent/recv with escaped previews and the half-close", async () => {
  await using peer = await startBuiltin();
  const r = await runCli(["127.0.0.1", String(peer.port), "-vv"], { stdin: "\x1b[2Jhi\n" });
  assert.equal(r.code, 0);
  assert.equal(r.out, "\x1b[2Jhi\n");
  const lines = r.err.trimEnd().split("\n");
  for (const line of lines) assert.match(line, /^\[tcpc \(\d+\)\] /);
  assert.ok(lines.some((l) => l.endsWith(`sent: 7 bytes "\\x1b[2Jhi\\n"`)), r.err);
  assert.ok(lines.some((l) => l.endsWith(`recv: 7 bytes "\\x1b[2Jhi\\n"`)), r.err);
  assert.ok(lines.some((l) => /half-close/.test(l)), r.err);
  const sentAt = lines.findIndex((l) => l.includes("sent:"));
  const halfAt = lines.findIndex((l) => l.includes("half-close"));
  assert.ok(sentAt < halfAt);
  // deno-lint-ignore no-control-regex
  assert.ok(!/\x1b/.test(r.err), "no raw escape reaches stderr");
});

Deno.test("tcpc --hex dumps both directions on stderr, stdout keeps the raw data", async () => {
  await using peer = await startBuiltin();
  const r = await runCli(["127.0.0.1", String(peer.port), "-x"], { stdin: "hi\x1b\n" });
  assert.equal(r.code, 0);
  assert.equal(r.out, "hi\x1b\n");
  assert.equal(
    r.err,
    "> 00000000  68 69 1b 0a                                       |hi..|\n" +
      "< 00000000  68 69 1b 0a                                       |hi..|\n",
  );
});

Deno.test("tcpc --json: text for UTF-8, base64 otherwise, and the close values", async () => {
  await using echo = await startBuiltin();
  const port = String(echo.port);
  const text = parseRecord((await runCli(["127.0.0.1", port, "--json", "-d", "héllo\\n"])).out);
  assert.deepEqual(text.target, { host: "127.0.0.1", port: echo.port });
  assert.deepEqual(text.addresses, ["127.0.0.1"]);
  assert.equal(text.remote, `127.0.0.1:${port}`);
  assert.match(text.local, /^127\.0\.0\.1:\d+$/);
  assert.deepEqual(text.data, { text: "héllo\n" });
  assert.equal(text.bytesSent, 7);
  assert.equal(text.bytesReceived, 7);
  assert.equal(text.close, "eof");
  assert.equal(text.error, null);
  assert.ok(text.timings.firstByteMs !== null);
  const binary = parseRecord(
    (await runCli(["127.0.0.1", port, "--json", "-d", "\\xff\\xfe\\x00"])).out,
  );
  assert.deepEqual(binary.data, { base64: "//4A" });
  // --json caps what it keeps at 1 MiB by default; --max-bytes changes it.
  await using chargen = await startBuiltin("chargen");
  const capped = await runHeldOpen(["127.0.0.1", String(chargen.port), "--json"]);
  assert.equal(capped.code, 0, capped.err);
  const big = parseRecord(capped.out);
  assert.equal(big.bytesReceived, 1048576);
  assert.equal(big.close, "local");
  assert.equal(big.data.text.length, 1048576);
  const small = parseRecord(
    (await runHeldOpen(["127.0.0.1", String(chargen.port), "--json", "--max-bytes", "74"])).out,
  );
  const line = Array.from({ length: 72 }, (_, i) => String.fromCharCode(32 + i)).join("");
  assert.deepEqual(small.data, { text: `${line}\r\n` });
  assert.equal(small.bytesReceived, 74);
});

Deno.test("tcpc --json reports a reset by the peer, keeping the bytes before it", async () => {
  const script = `
import socket, struct, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.sendall(b"partial"); time.sleep(0.5)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); s.close()
`;
  const child = new Deno.Command("python3", { args: ["-c", script], stdout: "piped" }).spawn();
  killAfter(child, 60_000);
  try {
    const reader = child.stdout.getReader();
    const port = decoder.decode((await reader.read()).value).trim();
    reader.releaseLock();
    const r = await runHeldOpen(["127.0.0.1", port, "--json"]);
    assert.equal(r.code, 1, r.err);
    const record = parseRecord(r.out);
    assert.equal(record.close, "error");
    assert.deepEqual(record.data, { text: "partial" });
    assert.equal(record.error.kind, "reset");
    assert.match(record.error.message, /^read "127\.0\.0\.1:\d+": connection reset by peer$/);
  } finally {
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
});

Deno.test("tcpc rejects malformed invocations with exit 2 and one line naming the value", async () => {
  const port = String(freePort());
  const table: [string[], string][] = [
    [[], "missing HOST and PORT"],
    [["127.0.0.1"], "missing HOST and PORT"],
    [["127.0.0.1", "0"], `"0"`],
    [["127.0.0.1", "65536"], `"65536"`],
    [["127.0.0.1", "http"], `"http"`],
    [["999.1.1.1", port], `"999.1.1.1"`],
    [["bad host", port], `"bad host"`],
    [["[::1", port], `"[::1"`],
    [["127.0.0.1", port, "extra"], `"extra"`],
    [["127.0.0.1", port, "-w", "soon"], `"soon"`],
    [["127.0.0.1", port, "-w", "-1s"], `"-1s"`],
    [["127.0.0.1", port, "-w"], "--connect-timeout"],
    [["127.0.0.1", port, "-t", "1x"], `"1x"`],
    [["127.0.0.1", port, "-i", ""], `""`],
    [["127.0.0.1", port, "--first-byte-timeout", "abc"], `"abc"`],
    [["127.0.0.1", port, "--deadline", "30d"], `"30d"`],
    [["127.0.0.1", port, "-q", "1e3"], `"1e3"`],
    [["127.0.0.1", port, "--max-bytes", "0"], `"0"`],
    [["127.0.0.1", port, "--max-bytes", "lots"], `"lots"`],
    // Control characters are escaped for the terminal; a backslash shows as typed.
    [["127.0.0.1", port, "-d", "\\q"], `unknown "\\q"`],
    [["127.0.0.1", port, "-d", "\\x4"], `"\\x4"`],
    [["127.0.0.1", port, "-d", "x", "-f", "y"], "--data and --file"],
    [["127.0.0.1", port, "-z", "-d", "x"], "--data and --zero-io"],
    [["127.0.0.1", port, "-4", "-6"], "-4 and -6"],
    [["127.0.0.1", port, "--bogus"], "--bogus"],
    [["127.0.0.1", port, "--json=yes"], "--json"],
    [["127.0.0.1", port, "-f", "/nonexistent/tcpc-test"], `"/nonexistent/tcpc-test"`],
    [["127.0.0.1", port, "-f", ""], `""`],
  ];
  for (const [args, named] of table) {
    const r = await runCli(args);
    const label = JSON.stringify(args);
    assert.equal(r.code, 2, `${label}: ${r.err}`);
    assert.equal(r.out, "", label);
    assert.ok(r.err.startsWith("tcpc: "), `${label}: ${r.err}`);
    assert.equal(r.err.split("\n").length, 2, `${label}: one line expected: ${r.err}`);
    assert.ok(r.err.includes(named), `${label}: ${r.err}`);
    assert.ok(!/\bat \S+:\d+|Stack backtrace|error: Uncaught/.test(r.err), `${label}: ${r.err}`);
  }
});

Deno.test("planConnect() validates before any socket opens", async () => {
  const plan = await planConnect(["::1", "7", "-w", "2s", "-t", "1s", "-vv", "--json", "-6"]);
  assert.equal(plan.connectTimeoutMs, 2000);
  assert.equal(plan.ioTimeoutMs, 1000);
  assert.equal(plan.verbosity, 2);
  assert.equal(plan.maxBytes, 1024 * 1024);
  assert.equal(plan.family, 6);
  assert.deepEqual(plan.input, { kind: "stdin" });
  assert.equal((await planConnect(["[::1]", "7", "--max-bytes", "5", "--json"])).maxBytes, 5);
  assert.equal((await planConnect(["::1", "7"])).maxBytes, undefined);
  assert.deepEqual((await planConnect(["h", "7", "-d", "a\\n"])).input, {
    kind: "data",
    bytes: new Uint8Array([0x61, 0x0a]),
  });
  await assert.rejects(() => planConnect(["h", "7", "-d", "\\z"]), UsageError);
});

Deno.test("tcpc moves 64 MiB of random bytes through socat's echo byte-identical", async () => {
  // socat PIPE echoes through a pipe; after our half-close it passes EOF on once
  // the pipe is drained, so every byte comes back before the peer closes.
  await using peer = await startSocat("PIPE");
  const data = randomBytes(64 * 1024 * 1024);
  // Write stdin while reading stdout (runCli writes all stdin first: that would
  // deadlock once the pipes fill, as it should with any streaming program).
  const child = spawnCli(["127.0.0.1", String(peer.port), "-w", "2s", "-i", "10s"], { stdin: "" });
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    await writer.write(data);
    await writer.close();
  })();
  const output = await child.output();
  await writing;
  const r = {
    code: output.code,
    stdout: output.stdout,
    err: cleanStderr(decoder.decode(output.stderr)),
  };
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  assert.equal(r.stdout.length, data.length);
  assert.equal(await sha256(r.stdout), await sha256(data));
});

Deno.test("tcpc streams large transfers in flat memory", async () => {
  // Peak RSS (VmHWM) as GNU time reports it.
  await using peer = await startSocat("PIPE");
  const peak = async (args: string[], stdin: Uint8Array | null) => {
    const child = new Deno.Command("/usr/bin/time", {
      args: ["-f", "maxrss=%M", Deno.execPath(), "run", "-P", "main.ts", ...args],
      cwd: REPO,
      stdin: stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writing = stdin
      ? (async () => {
        const writer = child.stdin.getWriter();
        await writer.write(stdin);
        await writer.close();
      })()
      : Promise.resolve();
    const { code, stdout, stderr } = await outputWithin(child, 60_000);
    await writing;
    assert.equal(code, 0, decoder.decode(stderr));
    const kib = Number(/maxrss=(\d+)/.exec(decoder.decode(stderr))?.[1]);
    assert.ok(kib > 0);
    return { kib, bytes: stdout.length };
  };
  // Peak RSS of 8 MiB vs 64 MiB through the echo: streaming costs the same
  // buffers for both; buffering the input (or output) would add 56 MiB or more.
  const small = await peak(["127.0.0.1", String(peer.port)], randomBytes(8 * 1024 * 1024));
  const size = 64 * 1024 * 1024;
  const big = await peak(["127.0.0.1", String(peer.port)], randomBytes(size));
  assert.equal(small.bytes, 8 * 1024 * 1024);
  assert.equal(big.bytes, size);
  const extraMiB = (big.kib - small.kib) / 1024;
  assert.ok(extraMiB < 20, `peak RSS grew by ${extraMiB.toFixed(1)} MiB from 8 to 64 MiB`);
});

Deno.test("tcpc exits 0 quietly when stdout closes early", async () => {
  await using peer = await startSocat("SYSTEM:yes");
  const { stdout, stderr } = await new Deno.Command("bash", {
    args: [
      "-c",
      // timeout: the CLI sits in a pipeline, where a kill of bash would not reach it.
      `timeout -s KILL 60 "${Deno.execPath()}" run -P main.ts 127.0.0.1 ${peer.port} < /dev/null | head -c 10; ` +
      `echo " exit=\${PIPESTATUS[0]}"`,
    ],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(decoder.decode(stdout), "y\ny\ny\ny\ny\n exit=0\n");
  assert.equal(cleanStderr(decoder.decode(stderr)), "");
});

Deno.test("tcpc exits 130 on SIGINT with one line", async () => {
  await using peer = silentPeer();
  const child = spawnCli(["127.0.0.1", String(peer.port), "-v"], { stdin: "" });
  const writer = child.stdin.getWriter();
  try {
    // Wait until it is connected (the -v line), then interrupt.
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let err = "";
    while (!err.includes("connected to")) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    child.kill("SIGINT");
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      err += value;
    }
    const status = await child.status;
    assert.equal(status.code, 130);
    assert.match(cleanStderr(err), /\ntcpc: interrupted by SIGINT\n$/);
  } finally {
    await writer.close().catch(() => {});
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("tcpc keeps every byte received before its idle timeout fires", async () => {
  // A peer that sends 3 MiB at once, then goes silent: the idle timeout ends the
  // run (exit 4), and all 3 MiB still reach stdout, none left in a buffer.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const payload = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const total = 48 * payload.length;
  const { promise: clientDone, resolve: releaseServer } = Promise.withResolvers<void>();
  const serving = (async () => {
    const conn = await listener.accept();
    try {
      for (let i = 0; i < 48; i++) {
        let offset = 0;
        while (offset < payload.length) offset += await conn.write(payload.subarray(offset));
      }
      // Silent (and open) until the client has given up.
      await clientDone;
    } finally {
      conn.close();
    }
  })();
  try {
    const port = String((listener.addr as Deno.NetAddr).port);
    // A slow reader (about 2 MiB/s): when the idle timer fires, output is still
    // buffered in tcpc, and it must drain rather than be dropped.
    const child = spawnCli(["127.0.0.1", port, "-i", "700ms"], { stdin: "" });
    await child.stdin.close();
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    for await (const chunk of child.stdout) {
      chunks.push(chunk);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    const { code } = await child.status;
    const err = cleanStderr(
      new TextDecoder().decode(await new Response(child.stderr).arrayBuffer()),
    );
    releaseServer();
    const r = { code, err, stdout: new Uint8Array(await new Blob(chunks).arrayBuffer()) };
    assert.equal(r.code, 4, r.err);
    assert.match(r.err, /idle timeout/);
    assert.equal(r.stdout.length, total);
    for (let i = 0; i < 48; i++) {
      const part = r.stdout.subarray(i * payload.length, (i + 1) * payload.length);
      assert.deepEqual(part, payload, `chunk ${i} differs`);
    }
  } finally {
    releaseServer();
    listener.close();
    await serving;
  }
});

Deno.test("tcpc --json names the resolved addresses even when every connect fails", async () => {
  const port = String(freePort());
  const r = await runCli(["localhost", port, "--json"]);
  assert.equal(r.code, 1, r.err);
  const record = JSON.parse(r.out);
  // Whatever this machine's resolver says localhost is (127.0.0.1, and ::1 where listed).
  assert.deepEqual(record.addresses, await resolve("localhost"));
  assert.ok(record.addresses.length > 0);
  assert.equal(typeof record.timings.resolveMs, "number");
  assert.equal(record.timings.connectMs, null);
  assert.equal(record.remote, null);
  assert.equal(record.close, null);
  assert.equal(record.error.kind, "refused");
});

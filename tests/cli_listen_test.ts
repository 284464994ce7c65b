/**
 * `tcpc listen` / `tcpc -l` as users run it: real CLI subprocesses on
 * 127.0.0.1 (a private network namespace for the all-interfaces case), with
 * files redirected by a shell as in `tcpc listen 9000 > file`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cleanStderr, killAfter, outputWithin, REPO, spawnCli } from "./peers/cli.ts";
import { runInNetns, skipWithoutNetns } from "./peers/netns.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;
/** A test-bug guard, not an assertion: kill a child still running after this. */
const KILL_AFTER_MS = 60_000;

/** What a finished child gave. */
interface Finished {
  code: number;
  out: string;
  err: string;
}

/** A running `tcpc listen` whose port is known. */
interface Listening {
  port: number;
  child: Deno.ChildProcess;
  /** Resolves when the child exited, with everything it wrote. */
  done: Promise<Finished>;
  /** Resolves once stderr matched `pattern` `count` times (polled; bounded by the kill guard). */
  stderrMatches(pattern: RegExp, count: number): Promise<void>;
}

/**
 * Waits for a listener child's "listening on 127.0.0.1:PORT" line on stderr,
 * then keeps collecting its outputs until it exits.
 */
async function whenListening(child: Deno.ChildProcess): Promise<Listening> {
  killAfter(child, KILL_AFTER_MS);
  const reader = child.stderr.getReader();
  let err = "";
  let match: RegExpExecArray | null = null;
  while (match === null) {
    const { value, done } = await reader.read();
    if (done) break;
    err += decoder.decode(value, { stream: true });
    match = LISTENING.exec(err);
  }
  const rest = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      err += decoder.decode(value, { stream: true });
    }
  })();
  const out = new Response(child.stdout).text();
  const done = Promise.all([child.status, rest, out]).then(([status, , text]) => {
    return { code: status.code, out: text, err: cleanStderr(err) };
  });
  if (match === null) {
    const finished = await done;
    throw new Error(`tcpc listen never listened: ${finished.code} ${finished.err}`);
  }
  let exited = false;
  done.finally(() => exited = true);
  const stderrMatches = async (pattern: RegExp, count: number) => {
    const global = new RegExp(pattern.source, "g");
    while ((err.match(global)?.length ?? 0) < count) {
      if (exited) throw new Error(`tcpc exited before stderr matched ${pattern}: ${err}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { port: Number(match[1]), child, done, stderrMatches };
}

/** Runs `tcpc ARGS` through sh, so stdin/stdout can be redirected from/to files. */
function spawnShell(args: string[], redirect: string): Deno.ChildProcess {
  const quoted = args.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
  return new Deno.Command("sh", {
    args: ["-c", `exec "$0" run -P main.ts ${quoted} ${redirect}`, Deno.execPath()],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Runs a child to its end (bounded by KILL_AFTER_MS). */
async function finish(child: Deno.ChildProcess): Promise<Finished> {
  const { code, stdout, stderr } = await outputWithin(child, KILL_AFTER_MS);
  return { code, out: decoder.decode(stdout), err: cleanStderr(decoder.decode(stderr)) };
}

async function sha256File(path: string): Promise<string> {
  const data = await Deno.readFile(path);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A temp file of `size` random bytes. */
async function randomFile(size: number): Promise<string> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const path = await Deno.makeTempFile({ prefix: "tcpc-listen-" });
  await Deno.writeFile(path, data);
  return path;
}

// deno-lint-ignore no-explicit-any
function records(out: string): any[] {
  return out.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
}

/** Reads from `conn` until EOF (bounded by the caller's kill guard). */
async function readAll(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

/** Reads from `conn` until `expected` has arrived. */
async function readUntil(conn: Deno.Conn, expected: string): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  while (!text.includes(expected)) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

/** A python3 client that sends a little, waits for our EOF, then resets (SO_LINGER 0). */
const RESETTING_CLIENT = `
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"partial")
while s.recv(4096):
    pass
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`;

async function resetFrom(port: number): Promise<void> {
  const child = new Deno.Command("python3", {
    args: ["-c", RESETTING_CLIENT, String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const { code, stderr } = await outputWithin(child, KILL_AFTER_MS);
  assert.equal(code, 0, decoder.decode(stderr));
}

Deno.test("tcpc listen > file receives a file sent by tcpc HOST PORT < file, byte-identical", async () => {
  const input = await randomFile(4 * 1024 * 1024 + 123);
  const output = await Deno.makeTempFile({ prefix: "tcpc-listen-" });
  try {
    const listening = await whenListening(spawnShell(["listen", "0"], `> '${output}'`));
    const sender = await finish(spawnShell(["127.0.0.1", String(listening.port)], `< '${input}'`));
    const receiver = await listening.done;
    assert.equal(sender.code, 0, sender.err);
    assert.equal(receiver.code, 0, receiver.err);
    assert.equal(sender.out, "");
    assert.equal(await sha256File(output), await sha256File(input));
  } finally {
    await Deno.remove(input);
    await Deno.remove(output);
  }
});

Deno.test("tcpc -l < file sends a file that tcpc HOST PORT > file receives, byte-identical", async () => {
  const input = await randomFile(3 * 1024 * 1024 + 7);
  const output = await Deno.makeTempFile({ prefix: "tcpc-listen-" });
  try {
    const listening = await whenListening(spawnShell(["-l", "127.0.0.1", "0"], `< '${input}'`));
    const receiver = await finish(
      spawnShell(["127.0.0.1", String(listening.port)], `> '${output}'`),
    );
    const sender = await listening.done;
    assert.equal(receiver.code, 0, receiver.err);
    assert.equal(sender.code, 0, sender.err);
    assert.equal(sender.out, "");
    assert.equal(await sha256File(output), await sha256File(input));
  } finally {
    await Deno.remove(input);
    await Deno.remove(output);
  }
});

Deno.test("tcpc listen --json reports the client, and -x dumps the traffic on stderr", async () => {
  const listening = await whenListening(
    spawnCli(["listen", "0", "--json", "-x", "-d", "pong\\n"]),
  );
  const client = await finish(
    spawnCli(["127.0.0.1", String(listening.port), "-d", "ping\\n"]),
  );
  const { code, out, err } = await listening.done;
  assert.equal(client.code, 0, client.err);
  assert.equal(client.out, "pong\n");
  assert.equal(code, 0, err);
  const [record, ...more] = records(out);
  assert.deepEqual(more, []);
  assert.equal(record.listen, `127.0.0.1:${listening.port}`);
  assert.match(record.remote, /^127\.0\.0\.1:\d+$/);
  assert.equal(record.local, `127.0.0.1:${listening.port}`);
  assert.deepEqual(record.data, { text: "ping\n" });
  assert.equal(record.bytesSent, 5);
  assert.equal(record.bytesReceived, 5);
  assert.equal(record.close, "eof");
  assert.equal(record.error, null);
  assert.ok(record.timings.acceptMs >= 0 && record.timings.totalMs >= record.timings.acceptMs);
  assert.match(err, /^> 00000000 {2}70 6f 6e 67 0a/m);
  assert.match(err, /^< 00000000 {2}70 69 6e 67 0a/m);
});

Deno.test("tcpc listen -k serves two clients in turn, each with -d, and stops on SIGTERM with 0", async () => {
  const listening = await whenListening(
    spawnCli(["listen", "0", "-k", "--json", "-d", "hello\\n"]),
  );
  const first = await finish(spawnCli(["127.0.0.1", String(listening.port), "-d", "one"]));
  const second = await finish(spawnCli(["127.0.0.1", String(listening.port), "-d", "two"]));
  assert.equal(first.code, 0, first.err);
  assert.equal(second.code, 0, second.err);
  assert.equal(first.out, "hello\n");
  assert.equal(second.out, "hello\n");
  listening.child.kill("SIGTERM");
  const { code, out, err } = await listening.done;
  assert.equal(code, 0, err);
  const got = records(out);
  assert.deepEqual(got.map((r) => r.data.text), ["one", "two"]);
  assert.deepEqual(got.map((r) => r.close), ["eof", "eof"]);
  assert.notEqual(got[0].remote, got[1].remote);
});

Deno.test("tcpc listen -k hands stdin to the client connected when it is read", async () => {
  const child = spawnCli(["listen", "0", "-k", "-v"], { stdin: "" });
  const stdin = child.stdin.getWriter();
  try {
    const listening = await whenListening(child);
    const first = await Deno.connect({ hostname: "127.0.0.1", port: listening.port });
    try {
      await stdin.write(encoder.encode("first\n"));
      assert.equal(await readUntil(first, "first\n"), "first\n");
    } finally {
      first.close();
    }
    // Once the first client's session is over, the listener's read of stdin
    // for it may still be pending: these bytes must reach the next client, and
    // stdin's EOF must then half-close it.
    await listening.stderrMatches(/closed \(eof\)/, 1);
    await stdin.write(encoder.encode("second\n"));
    const second = await Deno.connect({ hostname: "127.0.0.1", port: listening.port });
    try {
      assert.equal(await readUntil(second, "second\n"), "second\n");
      await stdin.close();
      assert.equal(await readAll(second), "");
    } finally {
      second.close();
    }
    // After stdin's EOF a later client gets an immediate half-close.
    const third = await Deno.connect({ hostname: "127.0.0.1", port: listening.port });
    try {
      assert.equal(await readAll(third), "");
    } finally {
      third.close();
    }
    // SIGTERM between clients ends -k with exit 0: wait until the third is done.
    await listening.stderrMatches(/closed \(eof\)/, 3);
    child.kill("SIGTERM");
    const { code, err } = await listening.done;
    assert.equal(code, 0, err);
    assert.equal(err.match(/accepted 127\.0\.0\.1:\d+/g)?.length, 3, err);
  } finally {
    await stdin.close().catch(() => {});
  }
});

Deno.test("tcpc listen: a client that resets ends the run with exit 1 and says so", async () => {
  const listening = await whenListening(spawnCli(["listen", "0", "--json"]));
  await resetFrom(listening.port);
  const { code, out, err } = await listening.done;
  assert.equal(code, 1, err);
  assert.match(err, /^tcpc: read "127\.0\.0\.1:\d+": connection reset by peer$/m);
  const [record] = records(out);
  assert.equal(record.close, "error");
  assert.equal(record.error.kind, "reset");
});

Deno.test("tcpc listen -k: after a client that resets, the next client is still served", async () => {
  const listening = await whenListening(spawnCli(["listen", "0", "-k", "--json"]));
  await resetFrom(listening.port);
  const next = await finish(spawnCli(["127.0.0.1", String(listening.port), "-d", "after"]));
  assert.equal(next.code, 0, next.err);
  listening.child.kill("SIGTERM");
  const { code, out, err } = await listening.done;
  assert.equal(code, 0, err);
  assert.match(err, /client 127\.0\.0\.1:\d+: read "127\.0\.0\.1:\d+": connection reset by peer/);
  const got = records(out);
  assert.deepEqual(got.map((r) => r.error?.kind ?? null), ["reset", null]);
  assert.deepEqual(got[1].data, { text: "after" });
});

Deno.test("tcpc listen -w: no client within DUR is exit 4 with a JSON record", async () => {
  const listening = await whenListening(spawnCli(["listen", "0", "-w", "300ms", "--json"]));
  const { code, out, err } = await listening.done;
  assert.equal(code, 4, err);
  assert.match(err, /^tcpc: accept "127\.0\.0\.1:\d+": no client connected within 300ms \(-w\)$/m);
  const [record] = records(out);
  assert.equal(record.remote, null);
  assert.equal(record.close, null);
  assert.equal(record.error.kind, "timeout");
  assert.equal(record.error.timer, "connect");
  assert.ok(record.timings.totalMs >= 300, `totalMs ${record.timings.totalMs}`);
  assert.ok(record.timings.totalMs < 10_000, `totalMs ${record.timings.totalMs}`);
});

Deno.test("tcpc listen 0.0.0.0 warns that all interfaces listen (private namespace)", async (t) => {
  if (await skipWithoutNetns(t)) return;
  const { code, err } = await runInNetns(
    Deno.execPath(),
    ["run", "-P", "main.ts", "listen", "0.0.0.0", "0", "-w", "200ms"],
    { cwd: REPO },
  );
  assert.equal(code, 4, err);
  assert.match(
    err,
    /listening on all interfaces \("0\.0\.0\.0:\d+"\): any host that can reach this machine may connect/,
  );
});

Deno.test("tcpc listen on a port in use is exit 1 (address in use), not a usage error", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String(held.addr.port);
    const { code, err } = await finish(spawnCli(["listen", port]));
    assert.equal(code, 1, err);
    assert.match(
      err,
      new RegExp(`^tcpc: listen "127\\.0\\.0\\.1:${port}": address already in use`, "m"),
    );
  } finally {
    held.close();
  }
});

Deno.test("tcpc listen rejects bad input with exit 2 before binding the port", async () => {
  // We hold the port: a tcpc that tried to listen first would fail with exit 1.
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const P = String(held.addr.port);
  const rows: [string[], string][] = [
    [["listen"], "missing PORT"],
    [["listen", "65536"], `invalid port "65536"`],
    [["listen", "127.0.0.1", P, "extra"], `unexpected argument "extra"`],
    [["listen", "bad..host", P], `invalid host "bad..host"`],
    [["listen", P, "-w", "-1s"], `"-1s"`],
    [["listen", P, "-t", "soon"], `"soon"`],
    [["listen", P, "-d", "a", "-f", "/etc/hostname"], "--data and --file"],
    [["listen", P, "-f", "/nonexistent/tcpc-file"], `cannot read --file "/nonexistent/tcpc-file"`],
    [["listen", P, "--max-bytes", "0"], `"0" for --max-bytes`],
    [["listen", P, "-d", "\\xZZ"], "--data"],
    [["-l", P, "--bogus"], "unknown option '--bogus'"],
    [["listen", "127.0.0.1:9000"], "tcpc listen 127.0.0.1 9000"],
  ];
  const failures: string[] = [];
  try {
    for (const [argv, expected] of rows) {
      const { code, out, err } = await finish(spawnCli(argv));
      const lines = err.split("\n").filter((line) => line !== "");
      if (code !== 2) failures.push(`${argv.join(" ")}: exit ${code}: ${err}`);
      else if (lines.length !== 1 || !lines[0]!.includes(expected)) {
        failures.push(`${argv.join(" ")}: ${JSON.stringify(err)} lacks ${expected}`);
      } else if (out !== "") failures.push(`${argv.join(" ")}: stdout ${out}`);
    }
  } finally {
    held.close();
  }
  assert.deepEqual(failures, []);
});

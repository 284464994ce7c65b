/**
 * More of `tcpc listen` as users run it: --file for several clients, a fixed
 * port, socket options, a port in use with --json, and input errors.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cleanStderr, killAfter, outputWithin, spawnCli } from "./peers/cli.ts";

const decoder = new TextDecoder();
const KILL_AFTER_MS = 60_000;

/** A running `tcpc listen` child whose stderr is collected as it arrives. */
function watch(child: Deno.ChildProcess) {
  let err = "";
  let exited = false;
  killAfter(child, KILL_AFTER_MS);
  const errDone = (async () => {
    for await (const chunk of child.stderr) err += decoder.decode(chunk, { stream: true });
  })();
  const out = new Response(child.stdout).text();
  const done = Promise.all([child.status, errDone, out]).then(([status, , text]) => {
    exited = true;
    return { code: status.code, out: text, err: cleanStderr(err) };
  });
  /** Waits (polling; bounded by the kill guard) until stderr matches `pattern`. */
  const stderrMatch = async (pattern: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const match = pattern.exec(err);
      if (match !== null) return match;
      if (exited) throw new Error(`tcpc exited before stderr matched ${pattern}: ${err}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, done, stderrMatch };
}

/** Connects to `port`, reads to EOF, and returns the text. */
async function receive(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.closeWrite();
    const buffer = new Uint8Array(4096);
    let text = "";
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      text += decoder.decode(buffer.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

/** A port that was free a moment ago (bound on port 0, then released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

Deno.test("tcpc listen -k -f FILE sends the whole file to each client", async () => {
  const path = await Deno.makeTempFile({ prefix: "tcpc-listen-" });
  try {
    await Deno.writeTextFile(path, "the file's text\n");
    const run = watch(spawnCli(["listen", "0", "-k", "-f", path]));
    const port = Number((await run.stderrMatch(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    assert.equal(await receive(port), "the file's text\n");
    assert.equal(await receive(port), "the file's text\n", "the file is read again");
    run.child.kill("SIGTERM");
    const { code, err } = await run.done;
    assert.equal(code, 0, err);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("tcpc listen -f FILE with no client within -w is exit 4", async () => {
  const path = await Deno.makeTempFile({ prefix: "tcpc-listen-" });
  try {
    await Deno.writeTextFile(path, "never sent\n");
    const { code, err } = await watch(spawnCli(["listen", "0", "-f", path, "-w", "200ms"])).done;
    assert.equal(code, 4, err);
    assert.match(err, /no client connected within 200ms \(-w\)/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("tcpc listen --file with an empty path is a usage error", async () => {
  const { code, stderr } = await outputWithin(
    spawnCli(["listen", "0", "--file", ""]),
    KILL_AFTER_MS,
  );
  const err = cleanStderr(decoder.decode(stderr));
  assert.equal(code, 2, err);
  assert.match(err, /^tcpc: invalid --file "": empty path$/m);
});

Deno.test("tcpc listen --json on a port in use prints a record with the error", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = held.addr.port;
    const { code, stdout, stderr } = await outputWithin(
      spawnCli(["listen", String(port), "--json"]),
      KILL_AFTER_MS,
    );
    assert.equal(code, 1, cleanStderr(decoder.decode(stderr)));
    const record = JSON.parse(decoder.decode(stdout));
    assert.equal(record.listen, `127.0.0.1:${port}`);
    assert.equal(record.remote, null);
    assert.equal(record.error.kind, "io");
    assert.match(record.error.message, /address already in use/);
  } finally {
    held.close();
  }
});

Deno.test("tcpc listen PORT -v --keepalive --nodelay turns keepalive on for the client", async () => {
  const port = freePort();
  // stdin stays open and silent, so that the connection stays established.
  const child = spawnCli(["listen", String(port), "-v", "--keepalive", "--nodelay"], { stdin: "" });
  const run = watch(child);
  // A fixed port is logged at info level (-v); port 0 would be a warning.
  await run.stderrMatch(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("hello"));
    await run.stderrMatch(/accepted 127\.0\.0\.1:\d+/);
    // ss(8) shows a keepalive timer on an idle socket with SO_KEEPALIVE.
    const ss = await new Deno.Command("ss", {
      args: ["-tnoH", "state", "established", `( sport = :${port} )`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const sockets = decoder.decode(ss.stdout);
    assert.match(sockets, /timer:\(keepalive/, sockets);
    await child.stdin.close();
    const buffer = new Uint8Array(16);
    assert.equal(await conn.read(buffer), null, "stdin's end is the server's half-close");
  } finally {
    conn.close();
  }
  const { code, out, err } = await run.done;
  assert.equal(code, 0, err);
  assert.equal(out, "hello");
});

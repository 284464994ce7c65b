import assert from "node:assert/strict";
import { acceptConn } from "../lib/net/listener.ts";
import { NetError } from "../lib/errors.ts";
import { killAfter } from "./peers/cli.ts";

Deno.test("acceptConn() says so when the listener is closed under it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const waiting = acceptConn(listener, { timeoutMs: 20_000 });
  listener.close();
  await assert.rejects(waiting, (err) => {
    assert.ok(err instanceof NetError, String(err));
    assert.equal(err.kind, "io");
    assert.match(err.message, /^accept "127\.0\.0\.1:\d+": the listener was closed$/);
    return true;
  });
});

const LISTENER_URL = new URL("../lib/net/listener.ts", import.meta.url).href;

Deno.test("acceptConn() reports EMFILE, backs off and accepts once a descriptor is free", async () => {
  // A child with a low descriptor limit fills its table, then waits for a
  // client: accept(2) fails with EMFILE (the client stays queued), the error
  // is reported, one descriptor is freed, and the retry after the pause
  // accepts the same client.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `
      import { acceptConn } from "${LISTENER_URL}";
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const fillers = [];
      for (let i = 0; i < 200; i++) {
        try { fillers.push(Deno.openSync("/dev/null")); } catch { break; }
      }
      console.log(listener.addr.port);
      const errors = [];
      const conn = await acceptConn(listener, {
        timeoutMs: 20000,
        onAcceptError: (err) => {
          errors.push(err.kind + " " + err.message.replace(/:\\d+"/, ':P"'));
          fillers.pop()?.close();
        },
      });
      const buffer = new Uint8Array(5);
      const n = await conn.read(buffer);
      console.log(JSON.stringify({ errors, got: new TextDecoder().decode(buffer.subarray(0, n)), filled: fillers.length > 0 }));
      conn.close();
      listener.close();
      for (const f of fillers) f.close();
      `,
    );
    const child = new Deno.Command("sh", {
      args: ["-c", `ulimit -n 64 && exec "$0" run -A "${dir}/main.ts"`, Deno.execPath()],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    killAfter(child, 60_000); // a test bug guard
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    const port = Number(out.split("\n")[0]);
    assert.ok(port > 0, `no port: ${out}`);
    const client = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await client.write(new TextEncoder().encode("hello"));
      for (;;) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
    } finally {
      client.close();
    }
    const { code } = await child.status;
    const err = await new Response(child.stderr).text();
    assert.equal(code, 0, err);
    const got = JSON.parse(out.split("\n")[1]!);
    assert.equal(got.got, "hello", "the queued client was accepted after the failure");
    assert.ok(got.filled, "the table was full");
    assert.ok(got.errors.length >= 1, "the EMFILE was reported");
    assert.match(got.errors[0], /^\w+ accept "127\.0\.0\.1:P": .*(EMFILE|too many open files)/i);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

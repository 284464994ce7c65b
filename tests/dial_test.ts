import assert from "node:assert/strict";
import { dial, resolve } from "../lib/net/dial.ts";
import { joinHostPort } from "../lib/net/address.ts";
import { NetError, UsageError } from "../lib/errors.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";
import { outputWithin } from "./peers/cli.ts";

async function hasIpv6Loopback(): Promise<boolean> {
  try {
    const listener = Deno.listen({ hostname: "::1", port: 0 });
    listener.close();
    return await Promise.resolve(true);
  } catch {
    return false;
  }
}

function assertNetError(err: unknown, kind: string, message: RegExp): NetError {
  assert.ok(err instanceof NetError, String(err));
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, message);
  return err;
}

Deno.test("joinHostPort() brackets IPv6", () => {
  assert.equal(joinHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(joinHostPort("::1", 80), "[::1]:80");
});

Deno.test("resolve() returns literals as they are and names via the system resolver", async () => {
  assert.deepEqual(await resolve("127.0.0.1"), ["127.0.0.1"]);
  assert.deepEqual(await resolve("::1"), ["::1"]);
  assert.ok((await resolve("localhost", { family: 4 })).includes("127.0.0.1"));
  await assert.rejects(() => resolve("::1", { family: 4 }), UsageError);
});

Deno.test("dial() connects and reports addresses and timings", async () => {
  await using peer = await startBuiltin();
  const conn = await dial("127.0.0.1", peer.port, { connectTimeoutMs: 2000, noDelay: true });
  try {
    assert.equal(conn.remoteAddress, `127.0.0.1:${peer.port}`);
    assert.match(conn.localAddress, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(conn.facts.addresses, ["127.0.0.1"]);
    const { connectMs, resolveMs } = conn.facts.timings;
    assert.ok(connectMs !== null && connectMs >= 0 && connectMs < 2000);
    assert.equal(resolveMs, 0, "an IP literal is not resolved");
  } finally {
    conn.close();
  }
});

Deno.test("dial() reports a refused port as NetError refused", async () => {
  const port = freePort();
  await assert.rejects(
    () => dial("127.0.0.1", port, { connectTimeoutMs: 2000 }),
    (err) =>
      !!assertNetError(
        err,
        "refused",
        new RegExp(`^connect "127.0.0.1:${port}": connection refused$`),
      ),
  );
});

Deno.test("dial() gives up on a hanging connect at connectTimeoutMs", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const started = performance.now();
  const err = await dial("127.0.0.1", hanging.port, { connectTimeoutMs: 500 }).then(
    (conn) => {
      conn.close();
      return null;
    },
    (err) => err,
  );
  const elapsed = performance.now() - started;
  const netErr = assertNetError(
    err,
    "timeout",
    /^connect "127.0.0.1:\d+": timed out after 500ms \(--connect-timeout\)$/,
  );
  assert.equal(netErr.timer, "connect");
  assert.ok(elapsed >= 490 && elapsed < 900, `took ${elapsed} ms`);
});

Deno.test("dial() stops at once with the parent signal's reason", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const parent = new AbortController();
  const reason = new Error("stop now");
  setTimeout(() => parent.abort(reason), 200);
  const started = performance.now();
  await assert.rejects(() => dial("127.0.0.1", hanging.port, { signal: parent.signal }), (err) => {
    assert.equal(err, reason);
    return true;
  });
  assert.ok(performance.now() - started < 1000);
  const aborted = new AbortController();
  aborted.abort(reason);
  await assert.rejects(() => dial("127.0.0.1", hanging.port, { signal: aborted.signal }), reason);
});

Deno.test("dial() connects to ::1 and refuses -4 for it", async (t) => {
  if (!(await hasIpv6Loopback())) {
    t.step({ name: "no IPv6 loopback here", ignore: true, fn: () => {} });
    return;
  }
  const listener = Deno.listen({ hostname: "::1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  try {
    const accepted = listener.accept();
    const conn = await dial("::1", port, { connectTimeoutMs: 2000 });
    conn.close();
    (await accepted).close();
    assert.equal(conn.remoteAddress, `[::1]:${port}`);
    await assert.rejects(() => dial("::1", port, { family: 4 }), UsageError);
  } finally {
    listener.close();
  }
});

/**
 * Runs `code` in a fresh deno process inside a private mount namespace whose
 * /etc/hosts maps `dualhost` to both loopbacks and whose resolver reads files
 * only (no DNS traffic leaves the machine).
 */
async function inDualHostNamespace(code: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/hosts`,
      "127.0.0.1 localhost\n127.0.0.1 dualhost\n::1 dualhost\n",
    );
    await Deno.writeTextFile(`${dir}/nsswitch.conf`, "hosts: files\n");
    await Deno.writeTextFile(`${dir}/main.ts`, code);
    const script = `mount --bind ${dir}/hosts /etc/hosts && ` +
      `mount --bind ${dir}/nsswitch.conf /etc/nsswitch.conf && ` +
      `exec "${Deno.execPath()}" run -A --config deno.json ${dir}/main.ts`;
    const child = new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", script],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { code: exit, stdout, stderr } = await outputWithin(child, 60_000);
    const err = new TextDecoder().decode(stderr);
    assert.equal(exit, 0, err);
    return new TextDecoder().decode(stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function canUnshare(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("unshare", {
      args: ["-m", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const DIAL_URL = new URL("../lib/net/dial.ts", import.meta.url).href;

/** A listener on both loopbacks with one port number; `hang` fills one family's backlog. */
async function dualListener(hang: "v4" | "v6" | "none") {
  const v6 = Deno.listen({ hostname: "::1", port: 0, tcpBacklog: hang === "v6" ? 1 : 128 });
  const port = (v6.addr as Deno.NetAddr).port;
  const v4 = Deno.listen({ hostname: "127.0.0.1", port, tcpBacklog: hang === "v4" ? 1 : 128 });
  const accepted = { v4: [] as Deno.Conn[], v6: [] as Deno.Conn[] };
  const loops = hang === "none"
    ? [v4, v6].map(async (listener, i) => {
      for await (const conn of listener) accepted[i === 0 ? "v4" : "v6"].push(conn);
    })
    : [(async () => {
      for await (const conn of hang === "v4" ? v6 : v4) {
        accepted[hang === "v4" ? "v6" : "v4"].push(conn);
      }
    })()];
  const fillers: Deno.Conn[] = [];
  if (hang !== "none") {
    const hostname = hang === "v4" ? "127.0.0.1" : "::1";
    for (let i = 0; i < 8; i++) {
      try {
        fillers.push(await Deno.connect({ hostname, port, signal: AbortSignal.timeout(300) }));
      } catch {
        break;
      }
    }
  }
  const close = async () => {
    for (const conn of fillers) conn.close();
    v4.close();
    v6.close();
    await Promise.allSettled(loops);
    for (const conn of [...accepted.v4, ...accepted.v6]) conn.close();
  };
  return { port, accepted, close };
}

Deno.test("dial() races families (RFC 8305) and closes or never opens the loser", async (t) => {
  if (!(await canUnshare()) || !(await hasIpv6Loopback())) {
    t.step({ name: "needs unshare -m and ::1", ignore: true, fn: () => {} });
    return;
  }
  const v4Hangs = await dualListener("v4");
  const v6Hangs = await dualListener("v6");
  const both = await dualListener("none");
  try {
    const out = await inDualHostNamespace(`
      import { dial, resolve } from "${DIAL_URL}";
      const addresses = await resolve("dualhost");
      const timed = async (port, options = {}) => {
        const started = performance.now();
        const r = await dial("dualhost", port, { connectTimeoutMs: 5000, fallbackDelayMs: 300, ...options });
        const ms = performance.now() - started;
        r.close();
        return { remote: r.remoteAddress, all: r.facts.addresses, ms };
      };
      const a = await timed(${v4Hangs.port});
      const b = await timed(${v6Hangs.port});
      const c = await timed(${both.port});
      await new Promise((ok) => setTimeout(ok, 400));
      let refused = "";
      try { await dial("dualhost", 1, { connectTimeoutMs: 2000 }); } catch (e) { refused = e.message; }
      const only6 = await timed(${both.port}, { family: 6 });
      let nohost = "";
      try { await dial("nosuchhost", 80, { connectTimeoutMs: 2000 }); } catch (e) { nohost = e.kind + " " + e.message; }
      console.log(JSON.stringify({ addresses, a, b, c, refused, only6, nohost }));
    `);
    const got = JSON.parse(out);
    assert.deepEqual([...got.addresses].sort(), ["127.0.0.1", "::1"]);
    assert.equal(got.a.remote, `[::1]:${v4Hangs.port}`);
    assert.equal(got.b.remote, `127.0.0.1:${v6Hangs.port}`);
    // Whichever family resolves first hangs in one of the two cases: there the
    // other family must win right after the 300 ms fallback delay, not after 5 s.
    const slow = got.addresses[0] === "127.0.0.1" ? got.a : got.b;
    const fast = got.addresses[0] === "127.0.0.1" ? got.b : got.a;
    assert.ok(slow.ms >= 280 && slow.ms < 2500, `fallback connected after ${slow.ms} ms`);
    assert.ok(fast.ms < 280, `first family connected after ${fast.ms} ms`);
    // Both answer: the first family wins and the other is never even connected.
    const first = got.addresses[0] === "127.0.0.1" ? "v4" : "v6";
    assert.deepEqual(
      { v4: both.accepted.v4.length, v6: both.accepted.v6.length },
      first === "v4" ? { v4: 1, v6: 1 } : { v4: 0, v6: 2 },
      "c connects once on the first family, only6 once on IPv6, nothing else",
    );
    assert.match(got.refused, /^connect "(127\.0\.0\.1|\[::1\]):1": connection refused$/);
    assert.equal(got.only6.remote, `[::1]:${both.port}`);
    assert.equal(got.nohost, `dns lookup "nosuchhost": name resolution failed (no such host)`);
  } finally {
    await v4Hangs.close();
    await v6Hangs.close();
    await both.close();
  }
});

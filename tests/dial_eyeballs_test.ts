import assert from "node:assert/strict";
import { skipWithoutNetns } from "./peers/netns.ts";
import { outputWithin } from "./peers/cli.ts";

const DIAL_URL = new URL("../lib/net/dial.ts", import.meta.url).href;

/**
 * Runs `code` in a fresh deno process inside a private network and mount
 * namespace: `lo` is up, /etc/hosts maps `dualhost` to 127.0.0.1 and ::1 and
 * `twohost` to 127.0.0.2 then 127.0.0.1, and
 * names resolve from files only (no query leaves the machine). Returns stdout.
 */
async function inDualNamespace(code: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/hosts`,
      "127.0.0.1 localhost\n127.0.0.1 dualhost\n::1 dualhost\n" +
        "127.0.0.2 twohost\n127.0.0.1 twohost\n",
    );
    await Deno.writeTextFile(`${dir}/nsswitch.conf`, "hosts: files\n");
    await Deno.writeTextFile(`${dir}/main.ts`, code);
    const script = [
      "ip link set lo up",
      `mount --bind ${dir}/hosts /etc/hosts`,
      `mount --bind ${dir}/nsswitch.conf /etc/nsswitch.conf`,
      `exec "${Deno.execPath()}" run -A --config deno.json ${dir}/main.ts`,
    ].join(" && ");
    const child = new Deno.Command("unshare", {
      args: ["-n", "-m", "sh", "-c", script],
      cwd: new URL("..", import.meta.url),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { code: exit, stdout, stderr } = await outputWithin(child, 60_000);
    assert.equal(exit, 0, new TextDecoder().decode(stderr));
    return new TextDecoder().decode(stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("dial() closes the family that lost the race when both connected", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // Both families answer. Right after the primary connect starts (and the 0 ms
  // fallback timer is set), the event loop is held busy for 300 ms: both
  // handshakes complete in the kernel meanwhile, and both connects resolve in
  // the same turn. One wins; the other is a connected socket nobody uses, which
  // dial() must close (the peer then reads EOF on it).
  const out = await inDualNamespace(`
    import { dial } from "${DIAL_URL}";
    const v4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = v4.addr.port;
    const v6 = Deno.listen({ hostname: "::1", port });
    const rounds = [];
    for (let round = 0; round < 3; round++) {
      const conn = await dial("dualhost", port, {
        connectTimeoutMs: 10000,
        fallbackDelayMs: 0,
        onResolved: () => {
          queueMicrotask(() => {
            const until = performance.now() + 300;
            while (performance.now() < until) { /* hold the loop */ }
          });
        },
      });
      const local = Number(conn.localAddress.slice(conn.localAddress.lastIndexOf(":") + 1));
      const accepted = [];
      for (const listener of [v4, v6]) {
        let timer;
        const next = await Promise.race([
          listener.accept(),
          new Promise((ok) => timer = setTimeout(ok, 5000, null)),
        ]);
        clearTimeout(timer);
        if (next) accepted.push(next);
      }
      const result = { winner: conn.remoteAddress, accepted: accepted.length };
      for (const peer of accepted) {
        const isWinner = peer.remoteAddr.port === local &&
          (peer.localAddr.hostname === "::1") === conn.remoteAddress.startsWith("[");
        if (isWinner) {
          await peer.write(new TextEncoder().encode("hi"));
          const got = new Uint8Array(2);
          result.winnerReads = new TextDecoder().decode(got.subarray(0, await conn.read(got)));
        } else {
          let timer;
          result.loserRead = await Promise.race([
            peer.read(new Uint8Array(16)),
            new Promise((ok) => timer = setTimeout(ok, 5000, "no EOF within 5 s")),
          ]);
          clearTimeout(timer);
        }
        peer.close();
      }
      conn.close();
      rounds.push(result);
    }
    v4.close();
    v6.close();
    console.log(JSON.stringify(rounds));
  `);
  const rounds = JSON.parse(out) as {
    winner: string;
    accepted: number;
    loserRead?: unknown;
    winnerReads?: string;
  }[];
  assert.equal(rounds.length, 3);
  for (const round of rounds) {
    assert.match(round.winner, /^(127\.0\.0\.1|\[::1\]):\d+$/);
    assert.equal(round.accepted, 2, "both families connected");
    assert.equal(round.winnerReads, "hi", "the winner stays open and usable");
    assert.equal(round.loserRead, null, "the loser was closed: its peer read EOF");
  }
});

Deno.test("dial() gives each address of one family a share of the deadline", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // twohost has two IPv4 addresses: the first (a full backlog) hangs, the
  // second answers. With a 4 s deadline for two addresses, the first gets its share
  // (Go's partial deadline: at least 2 s) and the second still connects, inside
  // the deadline; without shares the first would use it all.
  const out = await inDualNamespace(`
    import { dial, resolve } from "${DIAL_URL}";
    // getaddrinfo sorts the addresses (RFC 6724): the one it puts first hangs.
    const addresses = await resolve("twohost");
    const [first, second] = addresses;
    const hang = Deno.listen({ hostname: first, port: 0, tcpBacklog: 1 });
    const port = hang.addr.port;
    const open = Deno.listen({ hostname: second, port });
    const fillers = [];
    for (let i = 0; i < 8; i++) {
      try {
        fillers.push(await Deno.connect({ hostname: first, port, signal: AbortSignal.timeout(300) }));
      } catch { break; }
    }
    const started = performance.now();
    const conn = await dial("twohost", port, { connectTimeoutMs: 4000 });
    const ms = performance.now() - started;
    const peer = await open.accept();
    console.log(JSON.stringify({ addresses, remote: conn.remoteAddress, all: conn.facts.addresses, ms }));
    conn.close();
    peer.close();
    for (const f of fillers) f.close();
    hang.close();
    open.close();
  `);
  const got = JSON.parse(out);
  assert.deepEqual([...got.addresses].sort(), ["127.0.0.1", "127.0.0.2"]);
  assert.equal(got.remote.split(":")[0], got.addresses[1], "the second address answered");
  assert.deepEqual(got.all, got.addresses);
  assert.ok(got.ms >= 1900, `the first address got ${got.ms} ms, less than its share`);
});

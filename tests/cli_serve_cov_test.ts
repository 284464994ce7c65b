import assert from "node:assert/strict";
import { cleanStderr, REPO, runCli } from "./peers/cli.ts";
import { runInNetns, skipWithoutNetns } from "./peers/netns.ts";

Deno.test("tcpc serve --help prints its usage and exits 0", async () => {
  const { code, out, err } = await runCli(["serve", "--help"]);
  assert.equal(code, 0, err);
  assert.match(out, /^Usage: tcpc serve \[HOST\] PORT/);
  assert.equal(err, "");
});

Deno.test("tcpc serve on an address not on this host exits 1 naming the address", async () => {
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is on no interface here: bind(2) fails
  // at once and no packet is sent.
  const { code, out, err } = await runCli(["serve", "192.0.2.1", "0"]);
  assert.equal(code, 1, err);
  assert.equal(out, "");
  assert.equal(
    err,
    `tcpc: listen "192.0.2.1:0": address not available on this host (EADDRNOTAVAIL)\n`,
  );
});

Deno.test("tcpc serve :: says on stderr that it listens on every interface", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // In a private namespace, so "every interface" is only its loopback. The
  // shell waits (bounded) for the "listening on" line, then stops the server.
  const script = `
    "$0" run -P main.ts serve :: 0 > "$1" 2> "$1.err" &
    pid=$!
    for i in $(seq 600); do [ -s "$1" ] && break; sleep 0.05; done
    kill -TERM $pid; wait $pid; echo "exit $?"; cat "$1" "$1.err"`;
  const dir = await Deno.makeTempDir();
  try {
    const { code, out, err } = await runInNetns(
      "sh",
      ["-c", script, Deno.execPath(), `${dir}/out`],
      { cwd: REPO, killAfterMs: 60_000 },
    );
    assert.equal(code, 0, err);
    const lines = cleanStderr(out).split("\n");
    assert.equal(lines[0], "exit 0", out);
    assert.match(lines[1]!, /^listening on \[::\]:\d+ \(echo\)$/);
    assert.equal(
      lines[2],
      "tcpc serve: listening on every interface (::): other machines can connect (give 127.0.0.1 for this machine only)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

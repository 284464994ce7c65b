import assert from "node:assert/strict";
import { outputWithin, runCli, spawnCli } from "./peers/cli.ts";
import { fileURLToPath } from "node:url";

// main.ts answers --version before it sets anything up (start-up, issue 16):
// these pin that the short path says and exits exactly as the full one did.

Deno.test("tcpc --version and -V print the version line and exit 0", async () => {
  for (const args of [["--version"], ["-V"], ["-V", "ignored"]]) {
    const { code, out, err } = await runCli(args);
    assert.equal(out, "tcpc 0.1.0\n", args.join(" "));
    assert.equal(err, "", args.join(" "));
    assert.equal(code, 0, args.join(" "));
  }
});

Deno.test("tcpc --version into a closed pipe exits 0 without a message", async () => {
  const child = spawnCli(["--version"]);
  // Close our end at once: the write meets a closed pipe (or just fits in it).
  await child.stdout.cancel();
  const { code } = await child.status;
  const err = await new Response(child.stderr).text();
  assert.doesNotMatch(err, /tcpc:/);
  assert.equal(code, 0);
});

Deno.test("tcpc with only the commands' modules loaded on demand still routes each command", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /^tcpc 0\.1\.0: a TCP client/);
  assert.match(help.out, /-w, --connect-timeout DUR/);
  const kernel = await runCli(["kernel", "--help"]);
  assert.equal(kernel.code, 0);
  assert.match(kernel.out, /^Usage: tcpc kernel/);
  const bad = await runCli(["connect", "--bogus"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^tcpc: connect: unknown option '--bogus'/);
});

Deno.test("tcpc under deno run without read access to lib/ exits 5 naming the grant", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1:1", "main.ts", "127.0.0.1", "1", "-z"],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const { code, stdout, stderr } = await outputWithin(child, 60_000);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 5, err);
  assert.equal(stdout.length, 0);
  assert.match(
    err,
    /^tcpc: cannot load lib\/cli\/connect\.ts: under deno run, tcpc reads a command's modules when it runs \(add --allow-read=\/.*\/lib\)\n$/,
  );
});

import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";
import { startBuiltin } from "./peers/servers.ts";

Deno.test("tcpc names a flag's value that looks like a flag, and how to pass it", async () => {
  const long = `-${"x".repeat(90)}`;
  const rows: [string[], string][] = [
    // A long value is cut in the message, and the hint says VALUE instead.
    [
      ["127.0.0.1", "9", "-t", long],
      `tcpc: connect: option -t needs a value, got "${long.slice(0, 80)}..." (91 characters) ` +
      `(write --timeout=VALUE to pass it)`,
    ],
    [
      ["127.0.0.1", "9", "--timeout", "-1s"],
      `tcpc: connect: option --timeout needs a value, got "-1s" (write --timeout=-1s to pass it)`,
    ],
    [
      ["listen", "0", "-w", "-5s"],
      `tcpc: listen: option -w needs a value, got "-5s" (write --connect-timeout=-5s to pass it)`,
    ],
    [
      ["127.0.0.1", "9", "--json", "--max-bytes", "100000000"],
      "tcpc: --max-bytes 100000000 with --json: at most 67108864 (64 MiB), since the JSON record carries the data",
    ],
    [
      ["echo", "127.0.0.1", "9", "-m", "x".repeat(20_000), "--pipeline", "65536"],
      "tcpc: --message of 20000 bytes with --pipeline 65536 puts 1310720000 bytes in flight " +
      "per connection: at most 1073741824 (1 GiB)",
    ],
    [
      ["serve", "0", "--mode"],
      `tcpc: serve: option '-m, --mode <value>' argument missing`,
    ],
  ];
  const failures: string[] = [];
  for (const [argv, expected] of rows) {
    const { code, out, err } = await runCli(argv);
    if (code !== 2 || out !== "" || err !== `${expected}\n`) {
      failures.push(`${argv.join(" ").slice(0, 200)}: exit ${code}: ${JSON.stringify(err)}`);
    }
  }
  assert.deepEqual(failures, []);
});

Deno.test("tcpc HOST PORT -f /dev/stdin and -f - read stdin", async () => {
  await using server = await startBuiltin("echo");
  for (const file of ["/dev/stdin", "-"]) {
    const { code, out, err } = await runCli(["127.0.0.1", String(server.port), "-f", file], {
      stdin: `through ${file}\n`,
    });
    assert.equal(code, 0, err);
    assert.equal(out, `through ${file}\n`);
  }
});

Deno.test("tcpc echo -4 checks the replies of an IPv4 echo server", async () => {
  await using server = await startBuiltin("echo");
  const { code, out, err } = await runCli([
    "echo",
    "127.0.0.1",
    String(server.port),
    "-4",
    "-m",
    "ping",
    "-n",
    "3",
    "--json",
  ]);
  assert.equal(code, 0, err);
  const record = JSON.parse(out);
  assert.deepEqual(record.connections, { attempted: 1, connected: 1, ok: 1, failed: 0 });
  assert.deepEqual(record.messages, { sent: 3, verified: 3 });
});

import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";
import { startBuiltin, startHanging } from "./peers/servers.ts";
import { LISTEN_2500, runInNetns, skipWithoutNetns } from "./peers/netns.ts";
import { planProbe } from "../lib/cli/probe.ts";
import { UsageError } from "../lib/errors.ts";
import type { ProbeRecord } from "../lib/report/probe_table.ts";
import { probeRecords } from "./peers/probe.ts";

const REPO = new URL("..", import.meta.url).pathname;

/** A record without its timings (which differ from run to run). */
function shape(record: ProbeRecord): unknown {
  const { timings: _timings, ...rest } = record;
  return rest;
}

Deno.test("planProbe() reads --workers and rejects bad values", async () => {
  assert.equal((await planProbe(["127.0.0.1:80"])).workers, null);
  assert.equal((await planProbe(["127.0.0.1:80", "--workers", "0"])).workers, 0);
  assert.equal((await planProbe(["127.0.0.1:80", "--workers", "3"])).workers, 3);
  for (const bad of ["-1", "x", "17", "1.5"]) {
    await assert.rejects(planProbe(["127.0.0.1:80", "--workers", bad]), UsageError, bad);
  }
});

Deno.test("tcpc probe gives the same records in target order on worker threads as on one thread", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // Only inside the namespace: a listener on 2500, everything else closed.
  // 3,000 targets on 3 workers are 24 chunks of 125, finished out of order.
  const script = [
    ...LISTEN_2500,
    `"$0" run -P main.ts probe 127.0.0.1:1-3000 -w 1s --json --workers 1 > one.out`,
    `"$0" run -P main.ts probe 127.0.0.1:1-3000 -w 1s --json --workers 3 > three.out`,
    `"$0" run -P main.ts probe 127.0.0.1:1-3000 -w 1s --workers 3 > table.out`,
    "code=$?",
    "kill $pid",
    'echo "== one"; cat one.out; echo "== three"; cat three.out; echo "== table"; cat table.out',
    "rm -f one.out three.out table.out",
    "exit $code",
  ].join("\n");
  const dir = await Deno.makeTempDir();
  try {
    const result = await runInNetns("sh", ["-c", `cd "${dir}" && ${script}`, Deno.execPath()], {
      cwd: REPO,
      env: { DENO_DIR: Deno.env.get("DENO_DIR") ?? "" },
    });
    assert.equal(result.code, 1, result.err);
    const [, one = "", three = "", table = ""] = result.out.split(/^== \w+\n/m);
    const single = probeRecords(one);
    const threaded = probeRecords(three);
    assert.equal(threaded.length, 3000, result.err);
    assert.deepEqual(threaded.map((r) => r.port), Array.from({ length: 3000 }, (_, i) => i + 1));
    assert.deepEqual(threaded.map(shape), single.map(shape));
    assert.deepEqual(threaded.filter((r) => r.state === "open").map((r) => r.port), [2500]);
    const lines = table.trimEnd().split("\n");
    assert.equal(lines.length, 3002);
    assert.match(lines[0] ?? "", /^TARGET\s+STATE\s+CONNECT\s+DETAIL$/);
    assert.match(lines[1] ?? "", /^127\.0\.0\.1:1\s+closed\s+-\s+connect "127\.0\.0\.1:1": conn/);
    assert.match(lines[2500] ?? "", /^127\.0\.0\.1:2500\s+open\s/);
    assert.match(lines[3001] ?? "", /^3000 targets in .*: 1 open, 2999 closed$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcpc probe keeps --send/--expect on one thread even with --workers", async () => {
  const echo = await startBuiltin("echo");
  try {
    const count = 200;
    const target = `127.0.0.1:${Array(count).fill(echo.port).join(",")}`;
    const result = await runCli([
      "probe",
      target,
      "--send",
      "PING\\r\\n",
      "--expect-re",
      "^PI.G",
      "--json",
      "--workers",
      "2",
      "-v",
    ]);
    assert.equal(result.code, 0, result.err);
    assert.match(result.err, /200 targets, .* 1 thread,/);
    const found = probeRecords(result.out);
    assert.equal(found.length, count);
    for (const record of found) {
      assert.equal(record.state, "open");
      assert.equal(record.reply, "PING\\r\\n");
      assert.equal(record.bytesSent, 6);
    }
  } finally {
    await echo.stop();
  }
});

Deno.test("tcpc probe on worker threads with ulimit -n 64 finishes every target", async () => {
  // Connects to a full backlog hang until -w, so each holds a descriptor and
  // the two workers, sharing 64 of them, run out.
  const hanging = await startHanging();
  try {
    await hanging.fill();
    const count = 300;
    const target = `127.0.0.1:${Array(count).fill(hanging.port).join(",")}`;
    const { code, out, err } = await runCli(
      ["probe", target, "-c", "200", "-w", "300ms", "--json", "--workers", "2", "-v"],
      { fdLimit: 64 },
    );
    const found = probeRecords(out);
    assert.equal(found.length, count, err);
    assert.match(err, /300 targets, .* 2 threads,/);
    assert.deepEqual(new Set(found.map((r) => r.state)), new Set(["timeout"]), err);
    assert.deepEqual(new Set(found.map((r) => r.error?.timer)), new Set(["connect"]));
    assert.equal(code, 1, err);
    assert.match(err, /out of file descriptors \(EMFILE\)/);
  } finally {
    await hanging.stop();
  }
});

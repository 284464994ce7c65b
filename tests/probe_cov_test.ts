/**
 * `tcpc probe` edges: usage errors, the fd and worker decisions, progress,
 * interruption, the sandbox, and dialog failures (floods, resets, a peer that
 * closes during a slow match). In-process where the output is all we check.
 *
 * @module
 */

import assert from "node:assert/strict";
import { planProbe, probeMetrics, runProbe } from "../lib/cli/probe.ts";
import { ProbeShard, type ShardTarget } from "../lib/net/probe_shard.ts";
import {
  type ProbeWorkerChunk,
  type ProbeWorkerDone,
  type ProbeWorkerInit,
  type ProbeWorkerScope,
  serveProbeWorker,
} from "../lib/net/probe_worker.ts";
import { UsageError } from "../lib/errors.ts";
import type { ProbeRecord } from "../lib/report/probe_table.ts";
import { collectingContext } from "./peers/context.ts";
import { REPO, runCli } from "./peers/cli.ts";
import { probeRecords } from "./peers/probe.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";
import {
  canKillSockets,
  startFlooder,
  startResetter,
  startSendAndHold,
  startSender,
} from "./peers/faulty.ts";
import { runCliIsolated, skipWithoutNetns } from "./peers/netns.ts";

Deno.test("planProbe() refuses a zero timeout, a bad format and flags that need others", async () => {
  const cases: [string[], string][] = [
    [["-w", "0"], "invalid --connect-timeout: must be above 0"],
    [["--cert-days", "10"], "--cert-days needs --tls (or --starttls)"],
    [["--format", "xml"], 'invalid --format "xml": use text, json or prometheus'],
    [["--json", "--format", "text"], "conflicting flags --json and --format text: give only one"],
  ];
  for (const [flags, message] of cases) {
    await assert.rejects(planProbe(["127.0.0.1:80", ...flags]), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.message, message);
      return true;
    });
  }
});

Deno.test("planProbe() names why a --file cannot be read: a directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      planProbe(["-f", dir]),
      UsageError,
      `cannot read --file "${dir}": Is a directory`,
    );
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test({
  name: "planProbe() names why a --file cannot be read: the sandbox",
  permissions: { read: false },
  fn: async () => {
    await assert.rejects(
      planProbe(["-f", "/etc/hostname"]),
      UsageError,
      'cannot read --file "/etc/hostname": denied by the permission sandbox (needs --allow-read)',
    );
  },
});

/** The record of a real connect timeout to 127.0.0.1 (a full backlog). */
async function timeoutRecord(): Promise<ProbeRecord> {
  await using hanging = await startHanging();
  await hanging.fill();
  const { ctx, out } = collectingContext();
  await runProbe([`127.0.0.1:${hanging.port}`, "-w", "300ms", "--json"], ctx);
  const [record] = probeRecords(out.join("\n"));
  assert.equal(record?.state, "timeout");
  return record!;
}

Deno.test("probeMetrics() puts a timeout in the connect or the dialog phase, and the family", async () => {
  const RECORD = await timeoutRecord();
  const connect = probeMetrics(RECORD, false);
  assert.deepEqual(connect.failure, { phase: "connect", reason: "timeout", step: null });
  assert.equal(connect.ipProtocol, 4);
  assert.equal(connect.failedDueToRegex, null);
  const reply = probeMetrics({
    ...RECORD,
    target: "[::1]:9",
    address: "[::1]:9",
    timings: { ...RECORD.timings, connectMs: 0.2 },
    step: 2,
    error: { kind: "timeout", message: "expect timed out" },
  }, true);
  assert.deepEqual(reply.failure, { phase: "dialog", reason: "timeout", step: 2 });
  assert.equal(reply.ipProtocol, 6);
  assert.equal(reply.failedDueToRegex, false);
  // Through a proxy the address is the target's name: no family.
  const proxied = probeMetrics({
    ...RECORD,
    state: "open",
    proxy: { type: "socks5", address: "127.0.0.1:1080" },
  } as ProbeRecord, false);
  assert.equal(proxied.ipProtocol, null);
  assert.equal(proxied.failure, null);
});

Deno.test("tcpc probe lowers -c to the file descriptor limit and caps --workers, and says so", async () => {
  const server = await startBuiltin("echo");
  try {
    const target = `127.0.0.1:${Array(10).fill(server.port).join(",")}`;
    // -A: the limit is read from /proc/self/limits.
    const { code, out, err } = await runCli(["probe", target, "--workers", "16", "--json"], {
      fdLimit: 64,
      permissions: ["-A"],
    });
    const found = probeRecords(out);
    assert.deepEqual(found.map((r) => r.state), Array(10).fill("open"), err);
    assert.equal(code, 0, err);
    assert.match(err, /-c 256 exceeds the file descriptor limit \(ulimit -n 64\): using 1\n/);
    assert.match(
      err,
      /--workers 16 needs about 96 free file descriptors, \d+ are free \(ulimit -n 64\): using (\d workers|this thread only)\n/,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc probe of a large run without --workers stays on one thread when descriptors are short", async () => {
  const server = await startBuiltin("echo");
  try {
    // 4,096 targets or more: worker threads by default (2 on this machine's 2 cores).
    const target = `127.0.0.1:${Array(4100).fill(server.port).join(",")}`;
    const { code, out, err } = await runCli(["probe", target, "-c", "8", "--json"], {
      fdLimit: 44,
      permissions: ["-A"],
    });
    assert.match(
      err,
      /^\[tcpc \(\d+\)\] \d workers need about \d+ free file descriptors, \d+ are free \(ulimit -n 44\): using this thread only$/m,
    );
    const found = probeRecords(out);
    assert.equal(found.length, 4100, err);
    assert.ok(found.every((r) => r.state === "open"), err);
    assert.equal(code, 0, err);
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc probe counts free descriptors from the limit when /dev/null is refused", async () => {
  const server = await startBuiltin("echo");
  try {
    const target = `127.0.0.1:${server.port},${server.port},${server.port}`;
    // Reading only the checkout: /dev/null and /proc are refused; with `sh`
    // allowed the limit comes from `ulimit -n`, without it it is unknown.
    for (
      const [run, limit] of [
        [[], /fd limit unknown \(learned from EMFILE\)/],
        [["--allow-run=sh"], /fd limit \d+ \(ulimit\)/],
      ] as const
    ) {
      const r = await runCli(["probe", target, "--workers", "2", "-v"], {
        permissions: ["--allow-net", `--allow-read=${REPO}`, ...run],
      });
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /, 2 threads, /);
      assert.match(r.err, limit);
      assert.match(r.out, /^3 targets in .*: 3 open$/m);
    }
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc probe on worker threads reports a target the sandbox refuses, exit 5", async () => {
  const server = await startBuiltin("echo");
  try {
    const r = await runCli([
      "probe",
      `127.0.0.1:${server.port},1`,
      "--workers",
      "2",
      "-v",
      "--json",
    ], {
      permissions: ["--allow-net", "--allow-read", "--deny-net=127.0.0.1:1"],
    });
    assert.equal(r.code, 5, r.err);
    assert.match(r.err, /, 2 threads, /);
    assert.match(
      r.err,
      /^tcpc: connect "127\.0\.0\.1:1": denied by the permission sandbox: run with --allow-net or -P$/m,
    );
    const found = probeRecords(r.out);
    assert.deepEqual(found.map((f) => [f.port, f.state, f.error?.kind ?? null]), [
      [server.port, "open", null],
      [1, "error", "denied"],
    ]);
  } finally {
    await server.stop();
  }
});

Deno.test("tcpc probe on worker threads under a low ulimit warns of EMFILE once and finishes", async () => {
  const server = await startBuiltin("echo");
  try {
    const target = `127.0.0.1:${Array(3000).fill(server.port).join(",")}`;
    const { code, out, err } = await runCli(
      // -w 20s: a margin for a loaded machine (the default 2 s timed out a few
      // connects under coverage); the test is about EMFILE, not about speed.
      ["probe", target, "--workers", "2", "--json", "-c", "1000", "-w", "20s"],
      { fdLimit: 100 },
    );
    const found = probeRecords(out);
    assert.equal(found.length, 3000, err);
    const states = Object.groupBy(found, (r) => r.state);
    const counts = Object.entries(states).map(([state, rs]) => `${state} ${rs?.length}`).join(", ");
    assert.ok(found.every((r) => r.state === "open"), `${counts}\n${err}`);
    assert.equal(code, 0, err);
    const warnings = err.match(/out of file descriptors \(EMFILE\) with \d+ sockets in use/g);
    assert.equal(warnings?.length, 1, err);
  } finally {
    await server.stop();
  }
});

Deno.test("runProbe() shows progress on a terminal's stderr during a long run", async () => {
  const hanging = await startHanging();
  try {
    await hanging.fill();
    const { ctx, out, err } = collectingContext();
    ctx.stderrIsTerminal = true;
    // The progress line comes every 2 s: the 4 s timeout leaves room for one.
    const code = await runProbe([`127.0.0.1:${hanging.port}`, "-w", "4s"], ctx);
    assert.equal(code, 1);
    assert.match(err[0] ?? "", /^probe: 0\/1 done, 0 open, \d/);
    assert.match(out.at(-1) ?? "", /^1 target in .*: 1 timeout$/);
  } finally {
    await hanging.stop();
  }
});

Deno.test("runProbe() ends with the signal's reason when interrupted, on any path", async () => {
  const stop = new Error("interrupted");
  const controller = new AbortController();
  controller.abort(stop);
  for (
    const argv of [
      ["localhost:1,2"], // while resolving a name
      ["127.0.0.1:1,2", "--workers", "2"], // before the worker threads start
    ]
  ) {
    const { ctx } = collectingContext(controller.signal);
    await assert.rejects(runProbe(argv, ctx), (err) => err === stop);
  }
});

Deno.test("runProbe() interrupted during a slow --expect-re match ends at once", async () => {
  await using peer = startSendAndHold(new TextEncoder().encode("a".repeat(40) + "!"));
  const controller = new AbortController();
  const { ctx } = collectingContext(controller.signal);
  const started = performance.now();
  // Minutes of backtracking: only the interrupt ends it before -w.
  const timer = setTimeout(() => controller.abort(new Error("interrupted")), 1000);
  try {
    await assert.rejects(
      runProbe([`127.0.0.1:${peer.port}`, "--expect-re", "^(a+)+$", "-w", "60s"], ctx),
      /interrupted/,
    );
    assert.ok(performance.now() - started < 50_000);
  } finally {
    clearTimeout(timer);
  }
});

Deno.test({
  name: "runProbe() probes on this thread when the sandbox does not grant every address",
  permissions: { net: ["127.0.0.1"], read: true, run: true },
  fn: async () => {
    const { ctx, out } = collectingContext();
    await assert.rejects(
      runProbe(["[::1]:1,2", "--workers", "2", "--json"], ctx),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(
          err.message,
          'connect "[::1]:1": denied by the permission sandbox: run with --allow-net or -P',
        );
        return true;
      },
    );
    // One thread's output: the records of both targets in one batch.
    const found = probeRecords(out.join("\n"));
    assert.deepEqual(found.map((r) => [r.target, r.state, r.error?.kind]), [
      ["[::1]:1", "error", "denied"],
      ["[::1]:2", "error", "denied"],
    ]);
  },
});

Deno.test("ProbeShard connects 256 at a time by default and reports each target", async () => {
  await using server = await startBuiltin("echo");
  const closed = freePort();
  const targets: ShardTarget[] = [server.port, closed].map((port, index) => ({
    index,
    host: "127.0.0.1",
    port,
    ip: "127.0.0.1",
    resolveMs: 0,
  }));
  const got: [number, string][] = [];
  const shard = new ProbeShard({
    timeoutMs: 10_000,
    next: () => targets.shift(),
    onRecord: (index, record) => got.push([index, record.state]),
  });
  await shard.run();
  assert.deepEqual(got.sort(), [[0, "open"], [1, "closed"]]);
});

Deno.test("runProbe() --expect gives up after 64 KiB without a match", async () => {
  await using flooder = startFlooder();
  const { ctx, out } = collectingContext();
  const code = await runProbe([`127.0.0.1:${flooder.port}`, "--expect", "ZZZ", "--json"], ctx);
  assert.equal(code, 6);
  const [record] = probeRecords(out.join("\n"));
  assert.equal(record?.state, "mismatch");
  assert.match(
    record?.error?.message ?? "",
    /^expect "127\.0\.0\.1:\d+": step 1 \(--expect "ZZZ"\): expected "ZZZ", got "ABCDEF.*" \(no match in the first 65536 bytes\)$/,
  );
});

Deno.test("runProbe() --expect-re waits for a slow match after the peer closed", async () => {
  // The whole reply and the peer's FIN come at once; the match runs to -w.
  await using sender = startSender(new TextEncoder().encode("a".repeat(40) + "!"));
  const { ctx, out } = collectingContext();
  const code = await runProbe(
    [`127.0.0.1:${sender.port}`, "--expect-re", "^(a+)+$", "-w", "1s", "--json"],
    ctx,
  );
  assert.equal(code, 6);
  const [record] = probeRecords(out.join("\n"));
  assert.equal(record?.state, "mismatch");
  assert.match(
    record?.error?.message ?? "",
    /\(the match took longer than 1s on 41 bytes: too much backtracking\)$/,
  );
});

Deno.test("runProbe() names a reset that cut an expected reply short", async (t) => {
  const why = await canKillSockets();
  if (why !== null) {
    await t.step({ name: `skipped: ${why}`, ignore: true, fn: () => {} });
    return;
  }
  await using resetter = startResetter(new TextEncoder().encode("hello\n"));
  const { ctx, out } = collectingContext();
  const code = await runProbe(
    [`127.0.0.1:${resetter.port}`, "--send", "x\\n", "--expect", "bye", "-w", "10s", "--json"],
    ctx,
  );
  // What came before the reset did not match: a mismatch, exit 6.
  assert.equal(code, 6);
  const [record] = probeRecords(out.join("\n"));
  assert.equal(record?.state, "mismatch");
  assert.equal(record?.step, 2);
  assert.equal(
    record?.error?.message,
    `expect "127.0.0.1:${resetter.port}": step 2 (--expect "bye"): expected "bye", got "hello\\n" (read "127.0.0.1:${resetter.port}": connection reset by peer)`,
  );
});

Deno.test("tcpc probe --workers stays on this thread when a host does not resolve", async (t) => {
  if (await skipWithoutNetns(t)) return;
  // Inside a namespace whose resolver reads /etc/hosts only: no query leaves.
  const r = await runCliIsolated([
    "probe",
    "nosuchhost:80",
    "127.0.0.1:9",
    "--workers",
    "2",
    "-v",
    "--json",
  ]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /, 1 thread, /);
  const found = probeRecords(r.out);
  assert.deepEqual(found.map((f) => [f.target, f.state]), [
    ["nosuchhost:80", "dns-error"],
    ["127.0.0.1:9", "closed"],
  ]);
});

Deno.test("planProbe() keeps --cert-days with --tls", async () => {
  const plan = await planProbe(["127.0.0.1:443", "--tls", "--cert-days", "30"]);
  assert.equal(plan.certDays, 30);
  assert.notEqual(plan.route.tls, null);
});

/** A stand-in worker scope: collects what the worker posts. */
function workerScope() {
  const posted: (ProbeWorkerDone | { type: string })[] = [];
  let wake = () => {};
  const scope: ProbeWorkerScope = {
    onmessage: null,
    postMessage: (message) => {
      posted.push(message as ProbeWorkerDone);
      wake();
    },
  };
  /** Resolves once `count` messages were posted; rejects after 30 s without one. */
  const until = async (count: number) => {
    while (posted.length < count) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          wake = resolve;
          timer = setTimeout(() => reject(new Error(`only ${posted.length} messages`)), 30_000);
        });
      } finally {
        clearTimeout(timer);
      }
    }
  };
  /** Delivers a message as a worker gets one: in a task of its own. */
  const send = (data: ProbeWorkerInit | ProbeWorkerChunk) =>
    new Promise<void>((resolve) =>
      setTimeout(() => {
        scope.onmessage?.(new MessageEvent("message", { data }));
        resolve();
      }, 0)
    );
  return { scope, posted, until, send };
}

Deno.test({
  name:
    "serveProbeWorker() probes each chunk and posts its lines in order, with the sandbox's refusal",
  permissions: { net: ["127.0.0.1"], read: true },
  fn: async () => {
    await using server = await startBuiltin("echo");
    const closed = freePort();
    const worker = workerScope();
    serveProbeWorker(worker.scope);
    await worker.send({
      type: "init",
      timeoutMs: 10_000,
      maxOpen: 4,
      json: false,
      width: 24,
      hosts: [
        { host: "127.0.0.1", ip: "127.0.0.1", resolveMs: 0 },
        { host: "::1", ip: "::1", resolveMs: 0 },
      ],
    });
    await worker.send({
      type: "chunk",
      seq: 0,
      start: 0,
      hostIds: new Uint32Array([0, 0]),
      ports: new Uint16Array([server.port, closed]),
    });
    await worker.until(1);
    // The loop has finished: a later chunk starts it again. [::1] is not granted.
    await worker.send({
      type: "chunk",
      seq: 1,
      start: 2,
      hostIds: new Uint32Array([1, 0]),
      ports: new Uint16Array([closed, closed]),
    });
    await worker.until(2);
    const [first, second] = worker.posted as ProbeWorkerDone[];
    assert.equal(first?.type, "done");
    assert.equal(first?.seq, 0);
    assert.deepEqual(first?.counts, { open: 1, closed: 1 });
    assert.equal(first?.denied, null);
    const lines = first?.text.split("\n") ?? [];
    assert.match(lines[0] ?? "", new RegExp(`^127\\.0\\.0\\.1:${server.port} +open `));
    assert.match(lines[1] ?? "", new RegExp(`^127\\.0\\.0\\.1:${closed} +closed `));
    assert.equal(second?.seq, 1);
    assert.deepEqual(second?.counts, { error: 1, closed: 1 });
    assert.equal(second?.denied, `[::1]:${closed}`);
    assert.match(second?.text ?? "", /denied by the permission sandbox/);
  },
});

Deno.test("runProbe() names a send the peer closed before, after a regex matched", async () => {
  // The reply and the FIN come together; the match settles (on its thread)
  // after the close, so the next step, a send, can no longer go out.
  await using sender = startSender(new TextEncoder().encode("hi\n"));
  const { ctx, out } = collectingContext();
  const code = await runProbe(
    [`127.0.0.1:${sender.port}`, "--expect-re", "^hi", "--send", "x", "--json"],
    ctx,
  );
  assert.equal(code, 6);
  const [record] = probeRecords(out.join("\n"));
  assert.equal(record?.state, "mismatch");
  assert.equal(record?.step, 2);
  assert.equal(
    record?.error?.message,
    `send "127.0.0.1:${sender.port}": step 2 (--send "x"): not sent before the peer closed`,
  );
});

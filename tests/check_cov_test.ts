/**
 * `tcpc check` edges next to the real check_tcp where it has the same case:
 * usage errors, help, a reply cut short, TLS refused, through a proxy, IPv6
 * metrics and an interrupt; and `tcpc ping`'s proxy and interrupt paths.
 *
 * @module
 */

import assert from "node:assert/strict";
import { planPing, runPing } from "../lib/cli/ping.ts";
import { UsageError } from "../lib/errors.ts";
import { collectingContext } from "./peers/context.ts";
import { checkTcp, tcpcCheck } from "./peers/check.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";
import { startMicrosocks } from "./peers/proxies.ts";
import { promtool } from "./peers/data.ts";
import { makeTlsFixtures, startOpensslServer } from "./peers/tls.ts";
import { canKillSockets, startResetter } from "./peers/faulty.ts";
import { runCliIsolated, skipWithoutNetns } from "./peers/netns.ts";

Deno.test("runCheck() gives UNKNOWN (3) for more usage errors", async () => {
  const table: [string[], string][] = [
    [["127.0.0.1", "80", "x"], 'TCP UNKNOWN - check: unexpected argument "x"'],
    [
      ["127.0.0.1", "80", "--tls", "--cert-days", "abc"],
      'TCP UNKNOWN - invalid --cert-days "abc": use W or W,C (whole days)',
    ],
    [
      ["127.0.0.1", "80", "--tls", "--cert-days", "5,10"],
      'TCP UNKNOWN - invalid --cert-days "5,10": C must not be above W',
    ],
    [
      ["127.0.0.1", "80", "--cert-days", "30"],
      "TCP UNKNOWN - --cert-days needs --tls (or --starttls)",
    ],
    [
      ["127.0.0.1", "80", "--json", "--format", "prometheus"],
      "TCP UNKNOWN - conflicting flags --json and --format prometheus: give only one",
    ],
  ];
  for (const [args, want] of table) {
    const { code, line } = await tcpcCheck(args);
    assert.equal(line, want);
    assert.equal(code, 3, line);
  }
});

Deno.test("runCheck() --help prints the usage and exits 0", async () => {
  const { code, line } = await tcpcCheck(["--help"]);
  assert.equal(code, 0);
  assert.match(line, /^Usage: tcpc check HOST \[PORT\] \[steps\] \[options\]\n/);
});

Deno.test("runCheck() OK after a dialog of sends only shows no reply, like check_tcp -s", async () => {
  await using peer = await startBuiltin("discard");
  const p = String(peer.port);
  const real = await checkTcp(["-H", "127.0.0.1", "-p", p, "-s", "hi"]);
  const mine = await tcpcCheck(["127.0.0.1", p, "--send", "hi"]);
  assert.equal(mine.code, real.code);
  assert.equal(mine.code, 0);
  const mask = (line: string) => line.replace(/\d+(\.\d+)?/g, "N");
  assert.equal(mask(mine.line.replace(/ step\d+=\S+/g, "")), mask(real.line));
});

Deno.test("runCheck() --json keeps what TLS learned when verification failed", async () => {
  await using tls = await makeTlsFixtures();
  await using server = await startOpensslServer({ cert: tls.expired.cert, key: tls.expired.key });
  const { code, line } = await tcpcCheck([
    "127.0.0.1",
    String(server.port),
    "--tls",
    "--cacert",
    tls.ca.cert,
    "--json",
  ]);
  assert.equal(code, 2, line);
  const record = JSON.parse(line);
  assert.equal(record.state, "CRITICAL");
  assert.equal(record.error.kind, "tls");
  assert.equal(record.error.step, undefined, "a connect failure has no step");
  assert.match(record.error.message, /certificate expired on 2021-01-01/);
  assert.equal(record.tls.verified, false);
  assert.equal(record.tls.certificate.notAfter, "2021-01-01T00:00:00.000Z");
});

Deno.test("runCheck() makes a reset during an expect CRITICAL and names it", async (t) => {
  const why = await canKillSockets();
  if (why !== null) {
    await t.step({ name: `skipped: ${why}`, ignore: true, fn: () => {} });
    return;
  }
  // check_tcp reads "hello" before the reset and calls it an unexpected
  // response (WARNING); tcpc tells the reset apart, as a network failure.
  await using peer = startResetter(new TextEncoder().encode("hello\n"));
  const { code, line } = await tcpcCheck([
    "127.0.0.1",
    String(peer.port),
    "--send",
    "x\\n",
    "--expect",
    "bye",
  ]);
  assert.equal(code, 2, line);
  assert.equal(
    line,
    `TCP CRITICAL - dialog "127.0.0.1:${peer.port}": step 2 (--expect "bye"): connection reset by peer; received "hello\\n"`,
  );
});

Deno.test("runCheck() through a SOCKS5 proxy adds proxy perfdata, like the TLS time", async () => {
  await using echo = await startBuiltin("echo");
  await using proxy = await startMicrosocks();
  const p = String(echo.port);
  const real = await checkTcp(["-H", "127.0.0.1", "-p", p, "-4"]);
  const mine = await tcpcCheck(["127.0.0.1", p, "-4", "--proxy", `socks5://${proxy.address}`]);
  assert.equal(mine.code, 0, mine.line);
  assert.equal(real.code, 0, real.line);
  assert.match(mine.line, / proxy=\d+\.\d{6}s;;;0\.000000;10\.000000$/);
  const mask = (line: string) => line.replace(/ proxy=\S+/, "").replace(/\d+(\.\d+)?/g, "N");
  assert.equal(mask(mine.line), mask(real.line));
});

Deno.test("runCheck() --format prometheus gives ip_protocol 6 for a refused IPv6 target", async () => {
  const { code, line } = await tcpcCheck(["::1", String(freePort()), "--format", "prometheus"]);
  assert.equal(code, 2);
  assert.match(line, /^probe_ip_protocol\{target="\[::1\]:\d+"\} 6$/m);
  assert.match(
    line,
    /^probe_failure_info\{target="\[::1\]:\d+",phase="connect",reason="refused",step=""\} 1$/m,
  );
  const checked = await promtool(line + "\n");
  assert.equal(checked.code, 0, checked.output);
});

Deno.test("runCheck() ends with the signal's reason when interrupted while connecting", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const controller = new AbortController();
  const stop = new Error("interrupted");
  controller.abort(stop);
  await assert.rejects(
    tcpcCheck(["127.0.0.1", String(hanging.port), "-w", "30s"], controller.signal),
    (err) => err === stop,
  );
});

Deno.test("tcpc check --format prometheus puts a name that does not resolve in the resolve phase", async (t) => {
  if (await skipWithoutNetns(t)) return;
  const r = await runCliIsolated(["check", "nosuchhost", "80", "--format", "prometheus"]);
  assert.equal(r.code, 3, r.err);
  assert.match(
    r.out,
    /^probe_failure_info\{target="nosuchhost:80",phase="resolve",reason="dns",step=""\} 1$/m,
  );
  assert.doesNotMatch(r.out, /probe_ip_protocol/);
});

Deno.test("planPing() refuses a zero connect timeout", async () => {
  await assert.rejects(
    planPing(["127.0.0.1", "80", "-w", "0"]),
    UsageError,
    "invalid --connect-timeout: must be above 0",
  );
});

Deno.test("runPing() through a SOCKS5 proxy pings the target by name at the proxy", async () => {
  await using echo = await startBuiltin("echo");
  await using proxy = await startMicrosocks();
  const { ctx, out } = collectingContext();
  const code = await runPing(
    [
      "127.0.0.1",
      String(echo.port),
      "-n",
      "2",
      "-i",
      "10ms",
      "--proxy",
      `socks5://${proxy.address}`,
    ],
    ctx,
  );
  assert.equal(code, 0, out.join("\n"));
  const address = `127.0.0.1:${echo.port}`;
  assert.match(out[0] ?? "", new RegExp(`^${address}: seq=1 open time=\\d+\\.\\d{3} ms$`));
  assert.match(out[1] ?? "", new RegExp(`^${address}: seq=2 open time=`));
  assert.equal(out[3], "2 attempts, 2 connected, 0% loss");
});

Deno.test("runPing() -n 0 interrupted mid-attempt gives the summary without counting it", async () => {
  await using hanging = await startHanging();
  await hanging.fill();
  const controller = new AbortController();
  const stop = new Error("interrupted");
  const { ctx, out } = collectingContext(controller.signal);
  // The attempt waits for its 30 s timeout: the interrupt comes first.
  const timer = setTimeout(() => controller.abort(stop), 300);
  try {
    await assert.rejects(
      runPing(["127.0.0.1", String(hanging.port), "-n", "0", "-w", "30s", "--json"], ctx),
      (err) => err === stop,
    );
  } finally {
    clearTimeout(timer);
  }
  assert.equal(out.length, 1, out.join("\n"));
  const summary = JSON.parse(out[0]!);
  assert.equal(summary.type, "summary");
  assert.equal(summary.attempts, 0);
});

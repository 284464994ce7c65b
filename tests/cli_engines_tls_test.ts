/**
 * probe, ping, echo and check on the dial stack: TLS (with --cert-days), a
 * SOCKS5 proxy and Prometheus output, against real peers on loopback.
 */

import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";
import { startMicrosocks } from "./peers/proxies.ts";
import { freePort, startBuiltin, startHanging } from "./peers/servers.ts";
import { makeTlsFixtures, startOpensslServer, startSocatTls } from "./peers/tls.ts";
import { promtool } from "./peers/data.ts";
import { checkTcp } from "./peers/check.ts";

const lines = (out: string) => out.trim().split("\n").filter((l) => l !== "");

Deno.test("probe --tls over several targets: --cert-days fails only the one expiring soon", async () => {
  await using tls = await makeTlsFixtures();
  await using good1 = await startOpensslServer({ cert: tls.good.cert, key: tls.good.key });
  await using good2 = await startOpensslServer({ cert: tls.good.cert, key: tls.good.key });
  await using soon = await startOpensslServer({ cert: tls.soon.cert, key: tls.soon.key });
  const ports = [good1.port, soon.port, good2.port];
  const result = await runCli([
    "probe",
    `localhost:${ports.join(",")}`,
    "--tls",
    "--cacert",
    tls.ca.cert,
    "--cert-days",
    "30",
    "--json",
  ]);
  assert.equal(result.code, 1, result.err);
  const records = lines(result.out).map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => r.state), ["open", "tls", "open"]);
  const [ok, bad] = records;
  assert.equal(ok.tls.verified, true);
  assert.equal(ok.tls.certificate.subject, "CN=localhost");
  assert.equal(typeof ok.timings.tlsMs, "number");
  assert.equal(ok.timings.proxyMs, null);
  assert.equal(ok.proxy, null);
  assert.equal(bad.error.kind, "tls");
  assert.match(
    bad.error.message,
    /^tls "localhost:\d+": certificate expires in 3 days \(notAfter \d{4}-\d\d-\d\d\), under --cert-days 30$/,
  );
  assert.equal(bad.tls.certificate.daysLeft, 3);
  // Without --cert-days all three pass.
  const plain = await runCli([
    "probe",
    `localhost:${ports.join(",")}`,
    "--tls",
    "--cacert",
    tls.ca.cert,
  ]);
  assert.equal(plain.code, 0, plain.out + plain.err);
  assert.match(plain.out, /3 targets in .*: 3 open/);
});

Deno.test("ping --tls JSON carries tlsMs and the TLS facts; an untrusted CA is exit 7", async () => {
  await using tls = await makeTlsFixtures();
  await using server = await startOpensslServer({ cert: tls.good.cert, key: tls.good.key });
  const args = [
    "ping",
    "localhost",
    String(server.port),
    "--tls",
    "-n",
    "2",
    "-i",
    "50ms",
    "--json",
  ];
  const result = await runCli([...args, "--cacert", tls.ca.cert]);
  assert.equal(result.code, 0, result.err);
  const [first, second, summary] = lines(result.out).map((l) => JSON.parse(l));
  for (const attempt of [first, second]) {
    assert.equal(attempt.state, "open");
    assert.equal(typeof attempt.timings.tlsMs, "number");
    assert.equal(attempt.tls.protocol, "TLSv1.3");
    assert.equal(attempt.tls.verified, true);
    assert.equal(attempt.proxy, null);
  }
  assert.equal(summary.succeeded, 2);
  const untrusted = await runCli(args);
  assert.equal(untrusted.code, 7, untrusted.out + untrusted.err);
  const attempt = JSON.parse(lines(untrusted.out)[0]!);
  assert.equal(attempt.state, "tls");
  assert.equal(attempt.error.kind, "tls");
  assert.equal(attempt.tls.verified, false);
});

Deno.test("echo --tls round trip through socat OPENSSL-LISTEN", async () => {
  await using tls = await makeTlsFixtures();
  await using server = await startSocatTls({ cert: tls.good.cert, key: tls.good.key });
  const result = await runCli([
    "echo",
    "localhost",
    String(server.port),
    "--tls",
    "--cacert",
    tls.ca.cert,
    "-c",
    "3",
    "-n",
    "20",
    "--json",
  ]);
  assert.equal(result.code, 0, result.err);
  const record = JSON.parse(result.out);
  assert.deepEqual(record.connections, { attempted: 3, connected: 3, ok: 3, failed: 0 });
  assert.equal(record.messages.verified, 60);
  assert.equal(typeof record.timings.tlsMs, "number");
  assert.equal(record.tls.verified, true);
  assert.equal(record.proxy, null);
});

Deno.test("probe through a socks5h proxy passes the name to the proxy and reports it", async () => {
  await using proxy = await startMicrosocks();
  await using echo = await startBuiltin("echo");
  const result = await runCli([
    "probe",
    `localhost:${echo.port}`,
    "--proxy",
    `socks5h://${proxy.address}`,
    "--send",
    "hi\\n",
    "--expect",
    "hi",
    "--json",
  ]);
  assert.equal(result.code, 0, result.out + result.err);
  const record = JSON.parse(result.out);
  assert.equal(record.state, "open");
  assert.deepEqual(record.proxy, { type: "socks5h", address: proxy.address });
  assert.equal(typeof record.timings.proxyMs, "number");
  // The name was not resolved here: the proxy did it.
  assert.equal(record.timings.resolveMs, null);
  assert.equal(record.address, `localhost:${echo.port}`);
  // Nothing at the proxy's address: state proxy.
  await proxy.stop();
  const down = await runCli([
    "probe",
    `127.0.0.1:${echo.port}`,
    "--proxy",
    `socks5://${proxy.address}`,
    "--json",
  ]);
  assert.equal(down.code, 1);
  const failed = JSON.parse(down.out);
  assert.equal(failed.state, "proxy");
  assert.equal(failed.error.kind, "proxy");
});

Deno.test("check --tls --cert-days gives check_tcp -S -D's states", async () => {
  await using tls = await makeTlsFixtures();
  await using good = await startOpensslServer({ cert: tls.good.cert, key: tls.good.key });
  await using soon = await startOpensslServer({ cert: tls.soon.cert, key: tls.soon.key });
  const cases: [number, string, number][] = [
    [good.port, "30", 0],
    [soon.port, "30", 1],
    [soon.port, "30,2", 1],
    [soon.port, "30,5", 2],
  ];
  for (const [port, days, expected] of cases) {
    const ours = await runCli([
      "check",
      "127.0.0.1",
      String(port),
      "--tls",
      "-k",
      "--cert-days",
      days,
    ]);
    const theirs = await checkTcp(["-H", "127.0.0.1", "-p", String(port), "-S", "-D", days]);
    assert.equal(ours.code, expected, `${days}: ${ours.out}`);
    assert.equal(theirs.code, expected, `check_tcp -D ${days}`);
    if (expected === 0) {
      assert.match(ours.out, /^TCP OK - .*\|time=[\d.]+s;;;0\.000000;10\.000000 tls=[\d.]+s/);
    } else {
      assert.match(
        ours.out,
        new RegExp(
          `^TCP (WARNING|CRITICAL) - certificate expires in 3 days \\(notAfter [\\d-]+\\), under --cert-days ${
            days.includes(",") ? days : `${days},0`
          }\\|time=`,
        ),
      );
    }
  }
  const json = await runCli(["check", "127.0.0.1", String(good.port), "--tls", "-k", "--json"]);
  const record = JSON.parse(json.out);
  assert.equal(record.tls.certificate.subject, "CN=localhost");
  assert.equal(typeof record.timings.tlsMs, "number");
});

Deno.test("probe --format prometheus passes promtool for open, closed, timeout, mismatch and TLS", async () => {
  await using tls = await makeTlsFixtures();
  await using server = await startOpensslServer({ cert: tls.good.cert, key: tls.good.key });
  await using echo = await startBuiltin("echo");
  await using hanging = await startHanging();
  await hanging.fill();
  const closedPort = freePort();
  const probe = (args: string[]) => runCli(["probe", ...args, "--format", "prometheus"]);
  const runs: [string, string[], RegExp][] = [
    ["open", [`127.0.0.1:${echo.port}`], /probe_success\{target="127\.0\.0\.1:\d+"\} 1/],
    [
      "closed",
      [`127.0.0.1:${closedPort}`],
      /probe_failure_info\{[^}]*phase="connect",reason="refused"/,
    ],
    [
      "timeout",
      [`127.0.0.1:${hanging.port}`, "-w", "300ms"],
      /probe_failure_info\{[^}]*reason="timeout"/,
    ],
    [
      "mismatch",
      [`127.0.0.1:${echo.port}`, "--send", "a\\n", "--expect", "b", "-w", "500ms"],
      /probe_failed_due_to_regex\{[^}]*\} 1/,
    ],
    [
      "tls",
      [`localhost:${server.port}`, "--tls", "--cacert", tls.ca.cert],
      /probe_tls_version_info\{target="localhost:\d+",version="TLS 1\.3"\} 1/,
    ],
    [
      "tls failure",
      [`localhost:${server.port}`, "--tls"],
      /probe_failure_info\{[^}]*phase="tls",reason="tls"/,
    ],
  ];
  for (const [name, args, expected] of runs) {
    const result = await probe(args);
    assert.match(result.out, expected, `${name}: ${result.out}${result.err}`);
    const { code, output } = await promtool(result.out);
    assert.equal(code, 0, `${name}: ${output}\n${result.out}`);
  }
  const withTls = await probe([`localhost:${server.port}`, "--tls", "--cacert", tls.ca.cert]);
  assert.match(withTls.out, /probe_ssl_earliest_cert_expiry\{target="localhost:\d+"\} \d+/);
  assert.match(
    withTls.out,
    /probe_tls_handshake_duration_seconds\{target="localhost:\d+"\} [\d.]+/,
  );
});

import assert from "node:assert/strict";
import { Histogram } from "../lib/report/histogram.ts";
import { renderNagios } from "../lib/report/nagios.ts";
import { failedConnectState, formatProbeSummary } from "../lib/report/probe_table.ts";
import { type ProbeMetrics, renderPrometheus } from "../lib/report/prometheus.ts";
import { PRESETS } from "../lib/net/presets.ts";
import { STEP_FLAGS, stepsFromArgs } from "../lib/cli/steps.ts";
import { UsageError } from "../lib/errors.ts";
import { promtool } from "./peers/data.ts";
import { OPEN_METRICS } from "./peers/metrics.ts";

/** An open port that sent nothing, with no --expect. */
const open: ProbeMetrics = { ...OPEN_METRICS, firstByteMs: null, failedDueToRegex: null };

Deno.test("Histogram.count and percentiles stay exact for values past 2^49", () => {
  const h = new Histogram({ precisionBits: 4 });
  assert.equal(h.count, 0);
  // Just below a power of two, where Math.log2 rounds up to the power itself.
  const values = [2 ** 49 - 1, 2 ** 52 - 1, Number.MAX_SAFE_INTEGER, 2 ** 33];
  for (const v of values) h.record(v);
  assert.equal(h.count, 4);
  assert.equal(h.percentile(0), 2 ** 33);
  // A percentile never understates: each lands at or above its value, within 1/16.
  const sorted = [...values].sort((a, b) => a - b);
  for (const [i, p] of [25, 50, 75, 100].entries()) {
    const got = h.percentile(p)!;
    assert.ok(got >= sorted[i]! && got <= sorted[i]! * (1 + 1 / 16), `p${p} ${got}`);
  }
  assert.equal(h.percentile(100), Number.MAX_SAFE_INTEGER);
});

Deno.test("Histogram.merge() adds the other's counts bucket by bucket", () => {
  const a = new Histogram();
  const b = new Histogram();
  for (const v of [1, 2, 3]) a.record(v);
  for (const v of [3, 1000, 2 ** 40]) b.record(v, 2);
  a.merge(b);
  assert.equal(a.count, 9);
  assert.equal(a.percentile(50), 3);
  assert.equal(a.percentile(100), 2 ** 40);
});

Deno.test("renderPrometheus() spells non-finite values +Inf, -Inf and NaN, as the format wants", async () => {
  const text = renderPrometheus([{
    ...open,
    durationMs: Infinity,
    resolveMs: -Infinity,
    connectMs: NaN,
  }]);
  assert.match(text, /^probe_duration_seconds\{target="127\.0\.0\.1:6379"\} \+Inf$/m);
  assert.match(text, /^probe_dns_lookup_time_seconds\{target="127\.0\.0\.1:6379"\} -Inf$/m);
  assert.match(text, /^probe_connect_duration_seconds\{target="127\.0\.0\.1:6379"\} NaN$/m);
  const checked = await promtool(text);
  assert.equal(checked.code, 0, checked.output);
});

Deno.test("renderPrometheus() leaves out the expiry metric when no certificate has a date", async () => {
  const text = renderPrometheus([{
    ...open,
    tlsMs: 1,
    tls: { protocol: "TLSv1.2", certificate: null, chain: [{ notAfter: "not a date" }] },
  }]);
  assert.doesNotMatch(text, /probe_ssl_earliest_cert_expiry/);
  assert.match(text, /^probe_tls_version_info\{target="[^"]*",version="TLS 1\.2"\} 1$/m);
  const checked = await promtool(text);
  assert.equal(checked.code, 0, checked.output);
});

Deno.test("renderNagios() makes any other network failure CRITICAL with its message", () => {
  const { state, line } = renderNagios({
    label: "TCP",
    host: "127.0.0.1",
    port: 9,
    result: { type: "error", message: 'connect "127.0.0.1:9": connection reset | by peer' },
    responseMs: null,
    timeoutMs: 10_000,
    extraPerf: [],
  });
  assert.equal(state, 2);
  // "|" starts perfdata in the plugin API: it is escaped in the text.
  assert.equal(line, 'TCP CRITICAL - connect "127.0.0.1:9": connection reset \\x7c by peer');
});

Deno.test("renderNagios() shows 0 seconds for an OK without a measured response time", () => {
  const { state, line } = renderNagios({
    label: "TCP",
    host: "::1",
    port: 22,
    result: { type: "ok", received: "" },
    responseMs: null,
    timeoutMs: 5_000,
    extraPerf: [],
  });
  assert.equal(state, 0);
  assert.equal(
    line,
    "TCP OK - 0.000 second response time on ::1 port 22|time=0.000000s;;;0.000000;5.000000",
  );
});

Deno.test("failedConnectState() and formatProbeSummary() name unreachable and empty runs", () => {
  assert.equal(failedConnectState("unreachable"), "unreachable");
  assert.equal(formatProbeSummary({}, 3.4), "0 targets in 3ms: none");
  assert.equal(formatProbeSummary({ unreachable: 1 }, 1500), "1 target in 1.5s: 1 unreachable");
});

Deno.test("the http preset's Host header omits port 80 and brackets an IPv6 host", () => {
  const host = (h: string, port: number) => {
    const [send] = PRESETS.http!.steps({ host: h, port });
    assert.equal(send?.kind, "send");
    const text = new TextDecoder().decode(send.kind === "send" ? send.bytes : undefined);
    return /\r\nHost: ([^\r]*)\r\n/.exec(text)?.[1];
  };
  assert.equal(host("::1", 80), "[::1]");
  assert.equal(host("example.test", 80), "example.test");
  assert.equal(host("::1", 8080), "[::1]:8080");
});

Deno.test("stepsFromArgs() refuses a step flag left without its value", () => {
  assert.throws(
    () =>
      stepsFromArgs(["127.0.0.1", "--send"], { config: STEP_FLAGS, host: "127.0.0.1", port: 1 }),
    UsageError,
    'invalid --send "": empty',
  );
});

Deno.test("stepsFromArgs() builds a preset's dialog for localhost and its default port when none is given", () => {
  const { steps, preset } = stepsFromArgs(["--proto", "http"], { config: STEP_FLAGS });
  assert.equal(preset?.name, "http");
  const [send] = steps;
  assert.equal(send?.kind, "send");
  const text = new TextDecoder().decode(send.kind === "send" ? send.bytes : undefined);
  assert.match(text, /\r\nHost: localhost\r\n/);
});

import assert from "node:assert/strict";
import { escapeLabelValue, type ProbeMetrics, renderPrometheus } from "../lib/report/prometheus.ts";
import { promtool } from "./peers/data.ts";
import { OPEN_METRICS } from "./peers/metrics.ts";

const open: ProbeMetrics = OPEN_METRICS;
const closed: ProbeMetrics = {
  ...open,
  target: "127.0.0.1:9",
  success: false,
  connectMs: null,
  firstByteMs: null,
  failedDueToRegex: null,
  failure: { phase: "connect", reason: "refused", step: null },
};
const timeout: ProbeMetrics = {
  ...closed,
  target: "[::1]:80",
  ipProtocol: 6,
  durationMs: 2000,
  failure: { phase: "connect", reason: "timeout", step: null },
};
const mismatch: ProbeMetrics = {
  ...open,
  target: "localhost:25",
  success: false,
  failedDueToRegex: true,
  failure: { phase: "dialog", reason: 'verify: got "-ERR"\\n', step: 2 },
};
const tls: ProbeMetrics = {
  ...open,
  target: "127.0.0.1:4433",
  tlsMs: 3.25,
  tls: {
    protocol: "TLSv1.3",
    certificate: { notAfter: "2027-01-01T00:00:00.000Z" },
    chain: [{ notAfter: "2027-01-01T00:00:00.000Z" }, { notAfter: "2026-12-01T00:00:00.000Z" }],
  },
};

Deno.test("renderPrometheus() output passes promtool check metrics for each kind of target", async () => {
  const cases: [string, ProbeMetrics[]][] = [
    ["open", [open]],
    ["closed", [closed]],
    ["timeout", [timeout]],
    ["mismatch", [mismatch]],
    ["tls", [tls]],
    ["all", [open, closed, timeout, mismatch, tls]],
  ];
  for (const [name, records] of cases) {
    const text = renderPrometheus(records);
    const { code, output } = await promtool(text);
    assert.equal(code, 0, `${name}: ${output}\n${text}`);
    assert.equal(output.trim(), "", name);
  }
});

Deno.test("renderPrometheus() also fails promtool when the text is broken (the check can fail)", async () => {
  const broken = renderPrometheus([open]).replace("# TYPE probe_success gauge\n", "") +
    "# TYPE probe_success gauge\n";
  const { code } = await promtool(broken);
  assert.notEqual(code, 0);
});

Deno.test("renderPrometheus() writes HELP and TYPE once per family, one series per target", () => {
  const text = renderPrometheus([open, closed, tls]);
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.filter((l) => l === "# TYPE probe_success gauge").length, 1);
  assert.deepEqual(lines.filter((l) => l.startsWith("probe_success{")), [
    'probe_success{target="127.0.0.1:6379"} 1',
    'probe_success{target="127.0.0.1:9"} 0',
    'probe_success{target="127.0.0.1:4433"} 1',
  ]);
  assert.ok(lines.includes('probe_tls_version_info{target="127.0.0.1:4433",version="TLS 1.3"} 1'));
  assert.ok(lines.includes('probe_ssl_earliest_cert_expiry{target="127.0.0.1:4433"} 1796083200'));
  assert.ok(
    lines.includes('probe_tls_handshake_duration_seconds{target="127.0.0.1:4433"} 0.00325'),
  );
  assert.ok(lines.includes('probe_connect_duration_seconds{target="127.0.0.1:6379"} 0.0004'));
  assert.ok(
    lines.includes(
      'probe_failure_info{target="127.0.0.1:9",phase="connect",reason="refused",step=""} 1',
    ),
  );
  assert.ok(
    !lines.some((l) => l.startsWith('probe_connect_duration_seconds{target="127.0.0.1:9"}')),
  );
  assert.ok(text.endsWith("\n"));
});

Deno.test("renderPrometheus() escapes label values", () => {
  const text = renderPrometheus([mismatch]);
  assert.ok(
    text.includes(
      'probe_failure_info{target="localhost:25",phase="dialog",reason="verify: got \\"-ERR\\"\\\\n",step="2"} 1',
    ),
    text,
  );
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
});

Deno.test("renderPrometheus() renders nothing for no targets", () => {
  assert.equal(renderPrometheus([]), "");
});

/**
 * Prometheus text exposition (format 0.0.4) of probe results, for
 * node_exporter's textfile collector or a pushgateway: one series per target
 * with `target="host:port"`. Names follow blackbox_exporter where it has them;
 * the connect, TLS-handshake and first-byte times and the failure reason are
 * ours.
 *
 * @module
 */

/** The TLS facts the metrics need (lib/net/conn.ts `TlsFacts` fits). */
export interface MetricsTls {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** The leaf certificate. */
  certificate: { notAfter: string } | null;
  /** The chain as sent, leaf first. */
  chain: readonly { notAfter: string }[];
}

/** Why a probe failed: `probe_failure_info{phase,reason,step}`. */
export interface MetricsFailure {
  /** The phase: `resolve`, `connect`, `proxy`, `tls`, `dialog`. */
  phase: string;
  /** The error kind or a short reason: `refused`, `timeout`, `verify`, ... */
  reason: string;
  /** The dialog step that failed (1-based), or null. */
  step: number | null;
}

/** One target's probe, as the metrics see it. Times in ms; null when the phase did not happen. */
export interface ProbeMetrics {
  /** `host:port` as given. */
  target: string;
  /** True when the probe succeeded. */
  success: boolean;
  /** The whole probe, ms. */
  durationMs: number;
  /** Name resolution, ms. */
  resolveMs: number | null;
  /** TCP connect, ms. */
  connectMs: number | null;
  /** TLS handshake, ms. */
  tlsMs: number | null;
  /** From the start of the dialog to the first byte received, ms. */
  firstByteMs: number | null;
  /** 4 or 6: the family of the address connected to (or tried). */
  ipProtocol: 4 | 6 | null;
  /** TLS facts, or null without TLS. */
  tls: MetricsTls | null;
  /** For a dialog with expect steps: true when one did not match; null without expect steps. */
  failedDueToRegex: boolean | null;
  /** Why it failed, or null. */
  failure: MetricsFailure | null;
}

type Sample = { labels: Record<string, string>; value: number };

interface Family {
  name: string;
  help: string;
  samples: (r: ProbeMetrics) => Sample[];
}

/** Seconds rounded to the nanosecond: float noise (0.00003655400000002373) helps nobody. */
const seconds = (ms: number | null) =>
  ms === null ? [] : [{ labels: {}, value: Math.round(ms * 1e6) / 1e9 }];

/** `TLSv1.3` -> `TLS 1.3`, blackbox_exporter's (Go's) spelling. */
function tlsVersion(protocol: string): string {
  return protocol.replace(/^TLSv(\d)/, "TLS $1").replace(/^SSLv(\d)/, "SSL $1");
}

function earliestExpiry(tls: MetricsTls): number | null {
  const dates = [tls.certificate, ...tls.chain]
    .filter((c): c is { notAfter: string } => c !== null)
    .map((c) => Date.parse(c.notAfter))
    .filter((t) => Number.isFinite(t));
  return dates.length === 0 ? null : Math.min(...dates) / 1000;
}

const FAMILIES: Family[] = [
  {
    name: "probe_success",
    help: "Whether the probe succeeded (1) or failed (0).",
    samples: (r) => [{ labels: {}, value: r.success ? 1 : 0 }],
  },
  {
    name: "probe_duration_seconds",
    help: "How long the whole probe took, in seconds.",
    samples: (r) => seconds(r.durationMs),
  },
  {
    name: "probe_dns_lookup_time_seconds",
    help: "How long name resolution took, in seconds.",
    samples: (r) => seconds(r.resolveMs),
  },
  {
    name: "probe_connect_duration_seconds",
    help: "How long the TCP connect took, in seconds.",
    samples: (r) => seconds(r.connectMs),
  },
  {
    name: "probe_tls_handshake_duration_seconds",
    help: "How long the TLS handshake took, in seconds.",
    samples: (r) => seconds(r.tlsMs),
  },
  {
    name: "probe_first_byte_duration_seconds",
    help: "Time from the start of the dialog to the first byte received, in seconds.",
    samples: (r) => seconds(r.firstByteMs),
  },
  {
    name: "probe_ip_protocol",
    help: "The IP protocol of the address probed: 4 or 6.",
    samples: (r) => r.ipProtocol === null ? [] : [{ labels: {}, value: r.ipProtocol }],
  },
  {
    name: "probe_ssl_earliest_cert_expiry",
    help: "The earliest notAfter of the certificates the peer sent, as a Unix time in seconds.",
    samples: (r) => {
      const expiry = r.tls === null ? null : earliestExpiry(r.tls);
      return expiry === null ? [] : [{ labels: {}, value: expiry }];
    },
  },
  {
    name: "probe_tls_version_info",
    help: "The negotiated TLS version, as a label.",
    samples: (r) =>
      r.tls?.protocol ? [{ labels: { version: tlsVersion(r.tls.protocol) }, value: 1 }] : [],
  },
  {
    name: "probe_failed_due_to_regex",
    help: "Whether an expect step of the dialog did not match (1) or all matched (0).",
    samples: (r) =>
      r.failedDueToRegex === null ? [] : [{ labels: {}, value: r.failedDueToRegex ? 1 : 0 }],
  },
  {
    name: "probe_failure_info",
    help: "Why the probe failed: the phase, the reason and the dialog step (empty when none).",
    samples: (r) =>
      r.failure === null ? [] : [{
        labels: {
          phase: r.failure.phase,
          reason: r.failure.reason,
          step: r.failure.step === null ? "" : String(r.failure.step),
        },
        value: 1,
      }],
  },
];

/**
 * Escapes a label value for the text format: backslash, double quote and
 * newline.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "./prometheus.ts";
 * console.log(escapeLabelValue('a"b\\c\n')); // a\"b\\c\n
 * ```
 */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/**
 * Renders probe results as exposition text: HELP and TYPE once per metric
 * family, then one sample per target (families with no sample are left out).
 * Ends with a newline, as the format requires.
 *
 * @example One open target
 * ```ts
 * import { renderPrometheus } from "./prometheus.ts";
 * console.log(renderPrometheus([{
 *   target: "127.0.0.1:22",
 *   success: true,
 *   durationMs: 1.5,
 *   resolveMs: 0,
 *   connectMs: 1.2,
 *   tlsMs: null,
 *   firstByteMs: null,
 *   ipProtocol: 4,
 *   tls: null,
 *   failedDueToRegex: null,
 *   failure: null,
 * }]));
 * ```
 */
export function renderPrometheus(records: readonly ProbeMetrics[]): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    const rows: string[] = [];
    for (const record of records) {
      for (const sample of family.samples(record)) {
        const labels = { target: record.target, ...sample.labels };
        const text = Object.entries(labels)
          .map(([name, value]) => `${name}="${escapeLabelValue(value)}"`)
          .join(",");
        rows.push(`${family.name}{${text}} ${formatValue(sample.value)}`);
      }
    }
    if (rows.length === 0) continue;
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} gauge`, ...rows);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

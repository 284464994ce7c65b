/**
 * The words of `tcpc why`: an explanation a person can act on for each failed
 * layer (using the kernel's own connect limit), one verdict line for the whole
 * target, and the text and JSON renderings of the report.
 *
 * @module
 */

import { type ErrorKind, EXIT_CODES, NetError } from "../errors.ts";
import type { TlsFacts } from "../facts.ts";
import { formatDuration } from "./duration.ts";
import { roundMs } from "./numbers.ts";
import { escapeLine } from "./safe_text.ts";

/** How one layer went. */
export type WhyOutcome = "ok" | "failed" | "skipped";

/** One layer of one address: the plain record text and JSON show. */
export interface WhyLayer {
  /** `tcp`, `proxy`, `proxy-header`, `starttls`, `tls`, `first-byte` or `step`. */
  layer: string;
  /** How it went. */
  outcome: WhyOutcome;
  /** Time it took, ms; null when skipped. */
  ms: number | null;
  /** What happened, in words a person acts on. */
  explanation: string;
  /** For a failure: its kind (and so its exit code). */
  kind?: ErrorKind;
  /** For a failure: a few words for the verdict line (e.g. `refused`). */
  short?: string;
  /** For a failure: what it likely means, for a verdict about this failure alone. */
  hint?: string;
  /** For `step`: its 1-based number. */
  step?: number;
}

/** One address and its layers. */
export interface WhyAddress {
  /** The IP address. */
  address: string;
  /** 4 or 6. */
  family: 4 | 6;
  /** `ip:port` (`[v6]:port`). */
  endpoint: string;
  /** The layers, in order. */
  layers: WhyLayer[];
}

/** How the name was resolved. */
export interface WhyDns {
  /** The name looked up (the proxy's when there is one). */
  host: string;
  /** `ok`, `failed`, or `skipped` for an IP literal. */
  outcome: WhyOutcome;
  /** Which resolver answered, in words. */
  resolver: string;
  /** Lookup time, ms (null for a literal). */
  ms: number | null;
  /** Every address, in the resolver's order. */
  addresses: string[];
  /** What happened. */
  explanation: string;
  /** For a failure: its kind. */
  kind?: ErrorKind;
  /** For a failure: a few words for the verdict, e.g. `no address (ENOTFOUND)`. */
  short?: string;
}

/** The whole diagnosis of one target. */
export interface WhyReport {
  /** `host:port` as given. */
  target: string;
  /** The proxy, as `socks5 proxy 127.0.0.1:1080`, or null. */
  via: string | null;
  /** The lookup. */
  dns: WhyDns;
  /** One entry per address, in the resolver's order. */
  addresses: WhyAddress[];
  /** Per-attempt connect (and handshake) timeout, ms. */
  connectTimeoutMs: number;
  /** Per-step timeout, ms. */
  stepTimeoutMs: number;
  /** The kernel's connect limit when a SYN went unanswered, else null. */
  kernel: KernelConnectLimit | null;
}

/** The kernel's connect limit, for the "without a deadline" sentence. */
export interface KernelConnectLimit {
  /** `net.ipv4.tcp_syn_retries`. */
  synRetries: number;
  /** How long a connect without a deadline waits, ms. */
  maxConnectMs: number;
}

/** What {@linkcode explainFailure} needs to know besides the error. */
export interface ExplainContext {
  /** The layer that failed. */
  layer: string;
  /** `ip:port` of the attempt. */
  endpoint: string;
  /** The port. */
  port: number;
  /** The deadline that applied to this layer, ms. */
  timeoutMs: number;
  /** The flag that set it (`-w`, `-t`). */
  timeoutFlag: string;
  /** The kernel's limit (for a SYN that got no answer). @default {undefined} */
  kernel?: KernelConnectLimit;
  /** The first hop is a proxy: this label (`socks5 proxy`). @default {undefined} */
  proxy?: string;
  /** For `first-byte` and `step`: what the step waited for, e.g. `--expect "220"`. @default {undefined} */
  stepText?: string;
}

/** An explanation and the few words the verdict uses. */
export interface Explained {
  /** Kind of the failure. */
  kind: ErrorKind;
  /** The long text. */
  explanation: string;
  /** A few words. */
  short: string;
  /** What it likely means, in a few more words. @default {undefined} */
  hint?: string;
}

/** The detail of a NetError: its message without `op "address": `. */
function detailOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^[a-z-]+(?: "[^"]*")?: /, "");
}

function codeOf(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur !== undefined && cur !== null; i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string") return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function kindOf(err: unknown): ErrorKind {
  return err instanceof NetError ? err.kind : (err as { kind?: ErrorKind })?.kind ?? "io";
}

/** `127 s`: the kernel's limit as people quote it. */
function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

function kernelSentence(kernel: KernelConnectLimit | undefined): string {
  if (kernel === undefined) return "";
  return `; without a deadline the kernel retries for ${
    seconds(kernel.maxConnectMs)
  } (tcp_syn_retries=${kernel.synRetries}), and clients without a timeout of their own hang that long`;
}

/** A TCP connect that failed. */
function explainTcp(err: unknown, ctx: ExplainContext): Explained {
  const kind = kindOf(err);
  const code = codeOf(err);
  const limit = `${formatDuration(ctx.timeoutMs)} (${ctx.timeoutFlag})`;
  const at = ctx.proxy === undefined ? "" : `the ${ctx.proxy} `;
  if (kind === "timeout") {
    return {
      kind,
      short: `no answer to the SYN within ${formatDuration(ctx.timeoutMs)}`,
      hint: "likely dropped by a firewall, or the host is down",
      explanation: `no answer to the SYN within ${limit}: a firewall drops the packets, or ${
        at || "the "
      }host is down or absent${kernelSentence(ctx.kernel)}`,
    };
  }
  if (kind === "refused") {
    return {
      kind,
      short: "refused",
      hint: `nothing listens on port ${ctx.port}, or a firewall rejects with a TCP reset`,
      explanation: `refused: ${at || "the "}host answered the SYN with a TCP reset; ` +
        `nothing listens on port ${ctx.port} there, or a firewall rejects with a TCP reset ` +
        `(iptables REJECT --reject-with tcp-reset)`,
    };
  }
  if (kind === "unreachable" && code === "EHOSTUNREACH") {
    return {
      kind,
      short: "host unreachable (EHOSTUNREACH)",
      hint: "a firewall rejects with ICMP host-unreachable or admin-prohibited, an " +
        "'unreachable' route, or the host is down",
      explanation: "host unreachable (EHOSTUNREACH): a router or firewall answered the SYN with " +
        "ICMP host-unreachable or administratively-prohibited (iptables REJECT " +
        "--reject-with icmp-host-unreachable / icmp-admin-prohibited), or this host has an " +
        "'unreachable' route to it, or no neighbour answered ARP/NDP (the host is down on the " +
        "local network)",
    };
  }
  if (kind === "unreachable" && code === "ENETUNREACH") {
    return {
      kind,
      short: "network unreachable (ENETUNREACH)",
      hint: "no route to that network, or a router says so with ICMP",
      explanation: "network unreachable (ENETUNREACH): this host has no route to that network " +
        "(check `ip route`), or a router answered with ICMP network-unreachable",
    };
  }
  if (kind === "unreachable" && (code === "EACCES" || code === "EPERM")) {
    return {
      kind,
      short: `administratively prohibited (${code})`,
      hint: "a 'prohibit' route or a firewall rule on this host forbids it",
      explanation: `administratively prohibited (${code}): a rule on this host forbids the ` +
        "connect before any packet leaves: a 'prohibit' route (`ip route ... prohibit`) " +
        "or a local firewall rule",
    };
  }
  if (kind === "denied") {
    return {
      kind,
      short: "denied by the permission sandbox",
      explanation: detailOf(err),
    };
  }
  const detail = detailOf(err);
  return { kind, short: detail, explanation: detail };
}

/** A proxy handshake that failed. */
function explainProxy(err: unknown, ctx: ExplainContext): Explained {
  const kind = kindOf(err);
  const detail = detailOf(err);
  if (kind === "timeout") {
    return {
      kind,
      short: `the ${ctx.proxy ?? "proxy"} did not finish its handshake within ${
        formatDuration(ctx.timeoutMs)
      }`,
      explanation: `the ${ctx.proxy ?? "proxy"} accepted TCP but did not finish its handshake ` +
        `within ${formatDuration(ctx.timeoutMs)} (${ctx.timeoutFlag}): not a proxy of that type, ` +
        "or it is still trying to reach the target",
    };
  }
  if (kind === "proxy") {
    return { kind, short: detail, explanation: `the proxy failed: ${detail}` };
  }
  return {
    kind,
    short: detail,
    explanation: `the proxy answered, but could not reach the target: ${detail}`,
  };
}

function daysWord(days: number): string {
  return days === 1 ? "1 day" : `${days} days`;
}

/** A TLS (or STARTTLS) handshake that failed. */
function explainTls(err: unknown, ctx: ExplainContext): Explained {
  const kind = kindOf(err);
  const detail = detailOf(err);
  if (kind === "timeout") {
    return {
      kind,
      short: `no TLS answer within ${formatDuration(ctx.timeoutMs)}`,
      explanation:
        `no TLS answer within ${
          formatDuration(ctx.timeoutMs)
        } (${ctx.timeoutFlag}): the port accepted TCP but does not speak TLS back (a plain-text ` +
        "server waiting for its client to speak, or --starttls is needed)",
    };
  }
  const facts = (err as { facts?: TlsFacts | null }).facts ?? null;
  const cert = facts?.certificate ?? null;
  const code = facts?.verifyError ?? null;
  if (code === "CERT_HAS_EXPIRED" && cert !== null && cert.daysLeft < 0) {
    const short = `the certificate expired ${daysWord(-cert.daysLeft)} ago (notAfter ${
      cert.notAfter.slice(0, 10)
    })`;
    return {
      kind,
      short,
      explanation: `${short}: renew it on the server (or check this host's clock); ` +
        "clients that verify refuse it",
    };
  }
  if (code === "CERT_NOT_YET_VALID" && cert !== null) {
    const days = Math.max(0, Math.ceil((Date.parse(cert.notBefore) - Date.now()) / 86_400_000));
    const short = `the certificate is not valid for another ${daysWord(days)} (notBefore ${
      cert.notBefore.slice(0, 10)
    })`;
    return {
      kind,
      short,
      explanation: `${short}: check the clocks of this host and of the CA, or serve the old ` +
        "certificate until then",
    };
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return {
      kind,
      short: detail,
      explanation: `${detail}; connect with a name the certificate holds (--sni), or issue one ` +
        "for this name",
    };
  }
  return { kind, short: detail, explanation: detail };
}

/** Nothing, a reset or an EOF right after the connection was accepted (and set up). */
function explainAfterAccept(err: unknown, ctx: ExplainContext): Explained {
  const kind = kindOf(err);
  const waiting = ctx.stepText === undefined ? "" : ` while ${ctx.stepText} waited`;
  if (kind === "timeout") {
    return {
      kind,
      short: `the server accepted, then stayed silent for ${formatDuration(ctx.timeoutMs)}`,
      hint: "not a protocol where the server speaks first, a wrong port, a full accept queue, " +
        "or a proxy in the way",
      explanation:
        `accepted, then silent for ${
          formatDuration(ctx.timeoutMs)
        } (${ctx.timeoutFlag})${waiting}: what listens is not a protocol where the server speaks ` +
        "first (a wrong port?), the server's accept queue is full (the kernel completed the " +
        "handshake but the application never accepted), or a proxy or load balancer accepted " +
        "in its place and has no backend",
    };
  }
  if (kind === "reset") {
    return {
      kind,
      short: "the server accepted, then reset the connection",
      hint: "it refuses this client, crashed, or a proxy in front of it has no backend",
      explanation: `accepted, then reset${waiting}: the application (or a proxy or load ` +
        "balancer in front of it) aborted the connection: it refuses this client (an allow " +
        "list, tcpwrappers, too many clients), it crashed, a proxy found no backend, or it " +
        "expected another protocol",
    };
  }
  if (kind === "closed") {
    return {
      kind,
      short: "the server accepted, then closed without a byte",
      hint: "it refuses this client, or a proxy in front of it has no backend",
      explanation: `accepted, then closed without sending a byte${waiting}: the application ` +
        "refuses this client (an allow list, tcpwrappers, too many clients), or a proxy or " +
        "load balancer found no backend",
    };
  }
  const detail = detailOf(err);
  return { kind, short: detail, explanation: detail };
}

/**
 * Explains why `ctx.layer` failed with `err` (a classified error), in words a
 * person acts on, plus a few words for the verdict.
 *
 * @example A refused connect
 * ```ts
 * import { NetError } from "../errors.ts";
 * import { explainFailure } from "./why_text.ts";
 * const err = new NetError("refused", "connection refused", { op: "connect", address: "127.0.0.1:9" });
 * const why = explainFailure(err, {
 *   layer: "tcp",
 *   endpoint: "127.0.0.1:9",
 *   port: 9,
 *   timeoutMs: 3000,
 *   timeoutFlag: "-w",
 * });
 * console.log(why.short); // refused
 * ```
 */
export function explainFailure(err: unknown, ctx: ExplainContext): Explained {
  switch (ctx.layer) {
    case "tcp":
      return explainTcp(err, ctx);
    case "proxy":
      return explainProxy(err, ctx);
    case "tls":
    case "starttls":
      return explainTls(err, ctx);
    case "first-byte":
      return explainAfterAccept(err, ctx);
    default: {
      const kind = kindOf(err);
      const detail = detailOf(err);
      return { kind, short: detail, explanation: detail };
    }
  }
}

/** The verdict: one line, and the kind and exit code that decided it. */
export interface WhyVerdict {
  /** The line. */
  line: string;
  /** `ok` when the target works on at least one address, else the deciding failure's kind. */
  kind: ErrorKind | "ok";
  /** The exit code ({@linkcode EXIT_CODES}). */
  exitCode: number;
}

function firstFailure(address: WhyAddress): { index: number; layer: WhyLayer } | null {
  const index = address.layers.findIndex((l) => l.outcome === "failed");
  return index < 0 ? null : { index, layer: address.layers[index]! };
}

/** What a client that tries `failed` first meets. */
function consequence(failed: WhyAddress, layer: WhyLayer): string {
  const who = failed.family === 6 ? "clients that try IPv6 first" : "clients that try IPv4 first";
  if (layer.kind === "timeout") {
    return `${who} wait for their own timeout (Happy Eyeballs clients fall back after 250 ms)`;
  }
  if (layer.layer !== "tcp") return `${who} fail the same way`;
  return `${who} get an error`;
}

/**
 * The one verdict line of a report, and the kind that decided the exit code:
 * 0 when at least one address works all the way through. Otherwise the
 * failure that got furthest (the deepest layer; the resolver's first address
 * on a tie) decides.
 *
 * @example
 * ```ts
 * import { whyVerdict, type WhyReport } from "./why_text.ts";
 * declare const report: WhyReport;
 * console.log(whyVerdict(report).line);
 * ```
 */
export function whyVerdict(report: WhyReport): WhyVerdict {
  if (report.dns.outcome === "failed") {
    const kind = report.dns.kind ?? "dns";
    return {
      line: `"${report.dns.host}" does not resolve: ${report.dns.short ?? report.dns.explanation}`,
      kind,
      exitCode: EXIT_CODES[kind],
    };
  }
  const working = report.addresses.filter((a) => firstFailure(a) === null);
  const failing = report.addresses.filter((a) => firstFailure(a) !== null);
  const via = report.via === null ? "" : ` through the ${report.via}`;
  if (working.length > 0) {
    const ok = working.map((a) => a.endpoint).join(", ");
    if (failing.length === 0) {
      const all = working.length > 1 ? ` (all ${working.length} addresses)` : "";
      return { line: `${ok} works${via}${all}`, kind: "ok", exitCode: 0 };
    }
    const parts = failing.map((a) => {
      const layer = firstFailure(a)!.layer;
      return `${a.endpoint} ${layer.short ?? layer.layer} — ${consequence(a, layer)}`;
    });
    return { line: `${ok} works${via}; ${parts.join("; ")}`, kind: "ok", exitCode: 0 };
  }
  // Every address failed: the one that got furthest decides.
  let deciding = failing[0]!;
  for (const a of failing) {
    if (firstFailure(a)!.index > firstFailure(deciding)!.index) deciding = a;
  }
  const decided = firstFailure(deciding)!.layer;
  const kind = decided.kind ?? "io";
  const shorts = new Set(failing.map((a) => firstFailure(a)!.layer.short));
  const same = shorts.size === 1 &&
    new Set(failing.map((a) => firstFailure(a)!.layer.layer)).size === 1;
  let line: string;
  if (same && decided.layer === "tcp" && kind === "timeout") {
    const hang = report.kernel === null
      ? ""
      : `; without a deadline a client hangs ${seconds(report.kernel.maxConnectMs)}`;
    const who = failing.length > 1 ? "no address" : deciding.endpoint;
    line = `${who} answered the SYN within ${
      formatDuration(report.connectTimeoutMs)
    } (likely dropped by a firewall, or the host is down)${hang}`;
  } else if (same) {
    const where = failing.length > 1
      ? `every address (${failing.map((a) => a.endpoint).join(", ")})`
      : deciding.endpoint;
    // A record without its few words (not one diagnose() makes) names the layer, as below.
    const short = decided.short ?? decided.layer;
    line = decided.layer === "tcp"
      ? `${where}: ${short}${via}${decided.hint === undefined ? "" : `; ${decided.hint}`}`
      : `reachable${via}, but ${short}${decided.hint === undefined ? "" : ` (${decided.hint})`}`;
    if (failing.length > 1 && decided.layer !== "tcp") line += ` (${where})`;
  } else {
    const parts = failing.map((a) => {
      const layer = firstFailure(a)!.layer;
      const reached = layer.layer === "tcp" ? "" : "reachable, but ";
      return `${a.endpoint} ${reached}${layer.short ?? layer.layer}`;
    });
    line = `no address works${via}: ${parts.join("; ")}`;
  }
  return { line, kind, exitCode: EXIT_CODES[kind] };
}

/** Options of {@linkcode renderWhyText}. */
export interface RenderWhyTextOptions {
  /** `unicode` (✓ ✗ ·, for a terminal without NO_COLOR) or `ascii`. @default {"ascii"} */
  marks?: "unicode" | "ascii";
}

const MARKS = {
  unicode: { ok: "✓", failed: "✗", skipped: "·" },
  ascii: { ok: "ok", failed: "FAIL", skipped: "skip" },
} as const;

function msText(ms: number | null): string {
  return ms === null ? "" : formatDuration(ms);
}

/**
 * The text report: the lookup, one block per address with one line per
 * layer, then the verdict. Network text is escaped.
 *
 * @example
 * ```ts
 * import { renderWhyText, type WhyReport } from "./why_text.ts";
 * declare const report: WhyReport;
 * console.log(renderWhyText(report, { marks: "ascii" }).join("\n"));
 * ```
 */
export function renderWhyText(report: WhyReport, options: RenderWhyTextOptions = {}): string[] {
  const style = options.marks ?? "ascii";
  const marks = MARKS[style];
  const width = Math.max(...Object.values(marks).map((m) => m.length));
  const mark = (outcome: WhyOutcome) => marks[outcome].padEnd(width);
  const lines: string[] = [];
  const dns = report.dns;
  const found = dns.addresses.length === 0 ? "" : ` -> ${dns.addresses.join(", ")}`;
  lines.push(`why ${report.target}${report.via === null ? "" : ` via the ${report.via}`}`);
  const said = dns.outcome === "ok"
    ? `${dns.host}${found}: ${dns.resolver}`
    : dns.outcome === "failed"
    ? `${dns.host}: ${dns.explanation} [${dns.resolver}]`
    : `${dns.host}: ${dns.explanation}`;
  lines.push(`${mark(dns.outcome)} dns         ${msText(dns.ms).padStart(8)}  ${said}`);
  for (const address of report.addresses) {
    lines.push("");
    lines.push(address.endpoint);
    for (const layer of address.layers) {
      const name = layer.layer === "step" ? `step ${layer.step}` : layer.layer;
      lines.push(
        `  ${mark(layer.outcome)} ${name.padEnd(10)} ${
          msText(layer.ms).padStart(8)
        }  ${layer.explanation}`,
      );
    }
  }
  lines.push("");
  lines.push(`verdict: ${whyVerdict(report).line}`);
  const text = lines.map((line) => escapeLine(line));
  return style === "ascii" ? text.map((line) => line.replaceAll("—", "-")) : text;
}

/** The JSON shape of `tcpc why --json`. */
export interface WhyJson {
  /** `host:port`. */
  target: string;
  /** The proxy, or null. */
  via: string | null;
  /** The lookup. */
  dns: {
    host: string;
    outcome: WhyOutcome;
    resolver: string;
    ms: number | null;
    addresses: string[];
    explanation: string;
  };
  /** One entry per address. */
  addresses: {
    address: string;
    family: 4 | 6;
    layers: { layer: string; outcome: WhyOutcome; ms: number | null; explanation: string }[];
  }[];
  /** The verdict line. */
  verdict: string;
  /** `ok` or the deciding failure's kind. */
  kind: ErrorKind | "ok";
  /** The exit code. */
  exitCode: number;
  /** The deadlines used, ms. */
  timeouts: { connectMs: number; stepMs: number };
}

/**
 * The report as the JSON record of `tcpc why --json` (times rounded).
 *
 * @example
 * ```ts
 * import { whyJson, type WhyReport } from "./why_text.ts";
 * declare const report: WhyReport;
 * console.log(JSON.stringify(whyJson(report)));
 * ```
 */
export function whyJson(report: WhyReport): WhyJson {
  const verdict = whyVerdict(report);
  return {
    target: report.target,
    via: report.via,
    dns: {
      host: report.dns.host,
      outcome: report.dns.outcome,
      resolver: report.dns.resolver,
      ms: roundMs(report.dns.ms),
      addresses: report.dns.addresses,
      explanation: report.dns.explanation,
      ...(report.dns.kind === undefined ? {} : { kind: report.dns.kind }),
    },
    addresses: report.addresses.map((a) => ({
      address: a.address,
      family: a.family,
      layers: a.layers.map((l) => ({
        layer: l.layer,
        outcome: l.outcome,
        ms: roundMs(l.ms),
        explanation: l.explanation,
        ...(l.kind === undefined ? {} : { kind: l.kind }),
        ...(l.step === undefined ? {} : { step: l.step }),
      })),
    })),
    verdict: verdict.line,
    kind: verdict.kind,
    exitCode: verdict.exitCode,
    timeouts: { connectMs: report.connectTimeoutMs, stepMs: report.stepTimeoutMs },
  };
}

/**
 * The engine of `tcpc why`: resolve the host to every address of both
 * families, then for each address separately run each layer in turn (TCP
 * connect, the proxy, the PROXY header, STARTTLS, TLS, the first byte and the
 * dialog steps), each with its own outcome, time and, for a failure, an
 * explanation (lib/report/why_text.ts). The addresses are tried at the same
 * time, each on its own deadlines, so a silent address costs one timeout, not
 * one per address.
 *
 * @module
 */

import { abortable } from "./abortable.ts";
import { lookup } from "node:dns/promises";
import { type ErrorKind, NetError } from "../errors.ts";
import { readConnectLimit } from "../kernel/read.ts";
import { formatDuration } from "../report/duration.ts";
import { escapeBytes } from "../report/safe_text.ts";
import {
  explainFailure,
  type KernelConnectLimit,
  type WhyAddress,
  type WhyDns,
  type WhyLayer,
  type WhyReport,
} from "../report/why_text.ts";
import { hostKind, joinHostPort } from "./address.ts";
import type { Conn } from "./conn.ts";
import { connectTcp } from "./dial.ts";
import { describeStep, type DialogStep, runDialog } from "./dialog.ts";
import { toNetError } from "./net_errors.ts";
import { describeResolver } from "./resolver_info.ts";
import type { StackOptions } from "./stack.ts";

/** Options of {@linkcode diagnose}. */
export interface DiagnoseOptions {
  /**
   * The route: first hop (a proxy), layers and source address, as
   * lib/cli/route.ts `stackOptions` builds them. Its deadline fields are not
   * used (see `connectTimeoutMs`). @default {{}} (plain TCP)
   */
  stack?: StackOptions;
  /** Dialog steps after the layers. @default {[]} */
  steps?: readonly DialogStep[];
  /** Time for each connect, proxy handshake and TLS handshake, ms. @default {3000} */
  connectTimeoutMs?: number;
  /** The flag that sets `connectTimeoutMs`, for explanations. @default {"-w"} */
  connectTimeoutFlag?: string;
  /** Time for each dialog step, ms. @default {5000} */
  stepTimeoutMs?: number;
  /** Without steps: how long to listen for a first byte (a banner, a reset, an EOF), ms. @default {500} */
  firstByteWaitMs?: number;
  /** The flag that sets the step and first-byte timeouts, for explanations. @default {"-t"} */
  stepTimeoutFlag?: string;
  /** Only this address family. @default {undefined} (both) */
  family?: 4 | 6;
  /** Aborts the diagnosis: it rejects with the signal's reason. @default {undefined} */
  signal?: AbortSignal;
  /** The kernel's connect limit; read when first needed if unset. @default {undefined} */
  kernel?: KernelConnectLimit;
}

/** Default time for each connect and handshake, ms. */
export const WHY_CONNECT_TIMEOUT_MS = 3000;
/** Default time for each dialog step, ms. */
export const WHY_STEP_TIMEOUT_MS = 5000;
/** Default time to listen for a first byte when there are no steps, ms. */
export const WHY_FIRST_BYTE_WAIT_MS = 500;

/** How much of a banner the first-byte line quotes. */
const QUOTE_BYTES = 60;

function familyOf(address: string): 4 | 6 {
  return hostKind(address) === "ipv6" ? 6 : 4;
}

function signalWith(parent: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return parent === undefined ? timeout : AbortSignal.any([parent, timeout]);
}

interface Settings {
  host: string;
  port: number;
  target: string;
  stack: StackOptions;
  steps: readonly DialogStep[];
  connectTimeoutMs: number;
  connectTimeoutFlag: string;
  stepTimeoutMs: number;
  firstByteWaitMs: number;
  stepTimeoutFlag: string;
  signal: AbortSignal | undefined;
  kernel: () => Promise<KernelConnectLimit>;
  proxyLabel: string | undefined;
}

async function resolveAll(
  host: string,
  s: Settings,
  family: 4 | 6 | undefined,
): Promise<WhyDns> {
  const kind = hostKind(host);
  if (kind !== "name") {
    if (family !== undefined && (kind === "ipv4") !== (family === 4)) {
      return {
        host,
        outcome: "failed",
        resolver: "none (an IP address)",
        ms: null,
        addresses: [],
        explanation: `"${host}" is not an IPv${family} address (-${family})`,
        kind: "usage",
      };
    }
    return {
      host,
      outcome: "skipped",
      resolver: "none (an IP address)",
      ms: null,
      addresses: [host],
      explanation: "an IP address: nothing to resolve",
    };
  }
  const info = await describeResolver(host, family === undefined ? {} : { family });
  const resolver = info.text;
  const started = performance.now();
  const signal = signalWith(s.signal, s.connectTimeoutMs);
  try {
    const found = await abortable(
      lookup(host, { all: true, family: family ?? 0, verbatim: true }),
      signal,
    );
    const addresses = [...new Set(found.map((entry) => entry.address))];
    const ms = performance.now() - started;
    // getaddrinfo never succeeds empty: a name without addresses (of the family) rejects ENOTFOUND.
    return {
      host,
      outcome: "ok",
      resolver,
      ms,
      addresses,
      explanation: `${addresses.length} address${addresses.length === 1 ? "" : "es"}`,
    };
  } catch (err) {
    if (s.signal?.aborted) throw s.signal.reason;
    const ms = performance.now() - started;
    const net = toNetError(err, {
      op: "lookup",
      address: host,
      timer: "connect",
      timeoutMs: s.connectTimeoutMs,
      flag: s.connectTimeoutFlag,
    });
    const kind: ErrorKind = net instanceof NetError ? net.kind : "dns";
    const code = (err as { code?: unknown })?.code;
    const why = typeof code === "string" ? code : "no such host";
    const [short, explanation] = kind === "timeout"
      ? [
        `no answer from the resolver within ${formatDuration(s.connectTimeoutMs)}`,
        `no answer from the resolver within ${
          formatDuration(s.connectTimeoutMs)
        } (${s.connectTimeoutFlag}); check the nameservers and the network to them`,
      ]
      : code === "EAI_AGAIN"
      ? [
        `the resolver did not answer (EAI_AGAIN); ${info.where}`,
        "the resolver did not answer (EAI_AGAIN, a temporary failure); check the nameservers " +
        "and the network to them",
      ]
      : kind === "dns"
      ? [
        `no address (${why}); ${info.where}`,
        `no address for "${host}" (${why}); check the spelling, /etc/hosts and the DNS records`,
      ]
      : [net.message, net.message];
    return { host, outcome: "failed", resolver, ms, addresses: [], explanation, kind, short };
  }
}

/** The names of the layers planned for each address, in order. */
function plannedLayers(s: Settings): string[] {
  const names = ["tcp", ...(s.stack.layers ?? []).map((l) => l.op), "first-byte"];
  for (let i = 0; i < s.steps.length; i++) names.push("step");
  return names;
}

/** Records, per address, what ran; the rest is skipped after the first failure. */
class LayerLog {
  readonly layers: WhyLayer[] = [];
  constructor(private readonly planned: string[]) {}

  ok(layer: string, ms: number, explanation: string, step?: number): void {
    this.layers.push({
      layer,
      outcome: "ok",
      ms,
      explanation,
      ...(step === undefined ? {} : { step }),
    });
  }

  failed(
    layer: string,
    ms: number,
    why: { kind: ErrorKind; explanation: string; short: string; hint?: string },
    step?: number,
  ): void {
    this.layers.push({
      layer,
      outcome: "failed",
      ms,
      explanation: why.explanation,
      kind: why.kind,
      short: why.short,
      ...(why.hint === undefined ? {} : { hint: why.hint }),
      ...(step === undefined ? {} : { step }),
    });
  }

  /** Marks every planned layer not yet recorded as skipped. */
  skipRest(): void {
    let step = this.layers.filter((l) => l.layer === "step").length;
    for (const name of this.planned.slice(this.layers.length)) {
      this.layers.push({
        layer: name,
        outcome: "skipped",
        ms: null,
        explanation: "not run: an earlier layer failed",
        ...(name === "step" ? { step: ++step } : {}),
      });
    }
  }
}

/** Classifies a failure under a per-layer deadline; the parent's abort is rethrown. */
function classify(
  err: unknown,
  options: { op: string; address: string; deadline: AbortSignal; s: Settings },
): unknown {
  const { s } = options;
  if (s.signal?.aborted) throw s.signal.reason;
  if (options.deadline.aborted) {
    return toNetError(err, {
      op: options.op,
      address: options.address,
      timer: "connect",
      timeoutMs: s.connectTimeoutMs,
      flag: s.connectTimeoutFlag,
    });
  }
  return toNetError(err, { op: options.op, address: options.address });
}

/** Listens briefly for a first byte when there are no steps: a banner, an EOF, a reset, or nothing. */
async function listenFirstByte(
  conn: Conn,
  log: LayerLog,
  ctx: { s: Settings; endpoint: string; port: number },
): Promise<void> {
  const { s } = ctx;
  const started = performance.now();
  const buffer = new Uint8Array(QUOTE_BYTES);
  let silent = false;
  // Conn.read has no signal: the timer closes the conn (FACTS.md), which we are done with anyway.
  const timer = setTimeout(() => {
    silent = true;
    conn.close();
  }, s.firstByteWaitMs);
  const onAbort = () => conn.close();
  s.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const n = await conn.read(buffer);
    const ms = performance.now() - started;
    if (n === null) {
      const err = new NetError("closed", "peer closed the connection", {
        op: "read",
        address: ctx.endpoint,
      });
      log.failed("first-byte", ms, explainFailure(err, explainContext("first-byte", ctx)));
      return;
    }
    const banner = escapeBytes(buffer.subarray(0, n), { maxBytes: QUOTE_BYTES });
    log.ok("first-byte", ms, `the server spoke first: "${banner.replaceAll('"', '\\"')}"`);
  } catch (err) {
    if (s.signal?.aborted) throw s.signal.reason;
    const ms = performance.now() - started;
    if (silent) {
      log.ok(
        "first-byte",
        ms,
        `nothing within ${
          formatDuration(s.firstByteWaitMs)
        } (${s.stepTimeoutFlag}): the server waits for the client to speak first ` +
          "(normal for HTTP, TLS, redis; add --expect for a protocol whose server speaks first)",
      );
      return;
    }
    const net = toNetError(err, { op: "read", address: ctx.endpoint });
    log.failed("first-byte", ms, explainFailure(net, explainContext("first-byte", ctx)));
  } finally {
    clearTimeout(timer);
    s.signal?.removeEventListener("abort", onAbort);
  }
}

function explainContext(
  layer: string,
  ctx: { s: Settings; endpoint: string; port: number },
  extra: { kernel?: KernelConnectLimit; stepText?: string } = {},
) {
  const { s } = ctx;
  const afterAccept = layer === "first-byte" || layer === "step";
  return {
    layer,
    endpoint: ctx.endpoint,
    port: ctx.port,
    timeoutMs: afterAccept
      ? (s.steps.length > 0 ? s.stepTimeoutMs : s.firstByteWaitMs)
      : s.connectTimeoutMs,
    timeoutFlag: afterAccept ? s.stepTimeoutFlag : s.connectTimeoutFlag,
    ...(s.proxyLabel === undefined ? {} : { proxy: s.proxyLabel }),
    ...(extra.kernel === undefined ? {} : { kernel: extra.kernel }),
    ...(extra.stepText === undefined ? {} : { stepText: extra.stepText }),
  };
}

/** Runs the dialog and records the first byte and each step. */
async function runSteps(
  conn: Conn,
  log: LayerLog,
  ctx: { s: Settings; endpoint: string; port: number },
): Promise<void> {
  const { s } = ctx;
  const result = await runDialog(conn, {
    steps: s.steps,
    address: s.target,
    stepTimeoutMs: s.stepTimeoutMs,
    timeoutFlag: s.stepTimeoutFlag,
    ...(s.signal === undefined ? {} : { signal: s.signal }),
  });
  const error = result.error;
  const expects = s.steps.some((step) => step.kind.startsWith("expect"));
  if (result.firstByteMs !== null) {
    log.ok(
      "first-byte",
      result.firstByteMs,
      `first byte after ${formatDuration(result.firstByteMs)}`,
    );
  } else if (error !== null && error instanceof NetError) {
    // Nothing came back at all: the connection was accepted, then silent, reset or closed.
    log.failed(
      "first-byte",
      result.ms,
      explainFailure(error, explainContext("first-byte", ctx, { stepText: error.stepText })),
    );
  } else {
    log.ok(
      "first-byte",
      0,
      expects ? "nothing received" : "no step reads (only --send steps)",
    );
  }
  for (const step of result.steps) {
    const text = describeStep(step);
    if (step.ok) {
      const got = step.received === null ? "sent" : `matched; received "${step.received}"`;
      log.ok("step", step.ms, `${text}: ${got}`, step.step);
    } else if (error !== null) {
      const kind = (error as { kind: ErrorKind }).kind;
      const detail = error.message.replace(/^[a-z-]+(?: "[^"]*")?: /, "");
      log.failed("step", step.ms, { kind, explanation: detail, short: detail }, step.step);
    }
  }
}

async function diagnoseAddress(address: string, s: Settings): Promise<WhyAddress> {
  const hop = s.stack.firstHop ?? { host: s.host, port: s.port, label: "" };
  const endpoint = joinHostPort(address, hop.port);
  const log = new LayerLog(plannedLayers(s));
  const ctx = { s, endpoint, port: hop.port };
  const result = (): WhyAddress => {
    log.skipRest();
    return { address, family: familyOf(address), endpoint, layers: log.layers };
  };
  // TCP connect to this one address.
  let started = performance.now();
  let deadline = signalWith(s.signal, s.connectTimeoutMs);
  let conn: Conn;
  try {
    conn = await connectTcp(address, hop.port, {
      signal: deadline,
      ...(s.stack.source === undefined ? {} : { source: s.stack.source }),
    });
  } catch (err) {
    const ms = performance.now() - started;
    const net = classify(err, { op: "connect", address: endpoint, deadline, s });
    if (net instanceof NetError && net.kind === "reset") {
      // A reset answering the SYN is "refused"; a reset here means the handshake
      // completed and the peer aborted at once, before connect() returned.
      log.ok("tcp", ms, "the handshake completed, then the peer reset the connection at once");
      const next = s.stack.layers?.[0]?.op ?? "first-byte";
      log.failed(next, 0, explainFailure(net, explainContext("first-byte", ctx)));
      return result();
    }
    const timedOut = net instanceof NetError && net.kind === "timeout";
    const kernel = timedOut ? await s.kernel() : undefined;
    const why = explainFailure(net, explainContext("tcp", ctx, kernel ? { kernel } : {}));
    // A proxy that cannot be reached is the proxy's failure (exit 8), as in the dial stack.
    if (
      s.proxyLabel !== undefined &&
      ["refused", "reset", "unreachable", "closed", "io"].includes(why.kind)
    ) why.kind = "proxy";
    log.failed("tcp", ms, why);
    return result();
  }
  try {
    log.ok(
      "tcp",
      performance.now() - started,
      `connected from ${conn.localAddress}${s.proxyLabel ? ` to the ${s.proxyLabel}` : ""}`,
    );
    for (const layer of s.stack.layers ?? []) {
      started = performance.now();
      deadline = signalWith(s.signal, s.connectTimeoutMs);
      try {
        conn = await layer.run(conn, deadline);
      } catch (err) {
        const ms = performance.now() - started;
        const net = classify(err, { op: layer.op, address: s.target, deadline, s });
        log.failed(layer.op, ms, explainFailure(net, explainContext(layer.op, ctx)));
        return result();
      }
      log.ok(layer.op, performance.now() - started, layerSummary(layer.op, conn));
    }
    if (s.steps.length === 0) await listenFirstByte(conn, log, ctx);
    else await runSteps(conn, log, ctx);
    return result();
  } finally {
    conn.close();
  }
}

/** What an ok layer learned, in a few words. */
function layerSummary(op: string, conn: Conn): string {
  if (op === "proxy") {
    return conn.facts.proxy === null
      ? "tunnel ready"
      : `tunnel to the target ready (${conn.facts.proxy.type} ${conn.facts.proxy.address})`;
  }
  if (op === "tls") {
    const tls = conn.facts.tls;
    if (tls === null) return "handshake done";
    const cert = tls.certificate;
    const verified = tls.verified
      ? "verified"
      : `NOT verified (${tls.verifyError ?? "unknown"}; -k)`;
    const left = cert === null ? "" : `, ${cert.subject}, ${cert.daysLeft} days left`;
    return `${tls.protocol ?? "TLS"} ${verified}${left}`;
  }
  if (op === "starttls") return "upgrade accepted";
  return "done";
}

/**
 * Diagnoses `host:port`: resolves the host (or the proxy's host) to every
 * address, then runs every layer on each address, all addresses at once.
 * Resolves to the report in every case but one: an abort of `options.signal`
 * rejects with its reason.
 *
 * @example Why does nothing answer on port 9?
 * ```ts
 * import { diagnose } from "./why.ts";
 * import { whyVerdict } from "../report/why_text.ts";
 * const report = await diagnose("localhost", 9, { connectTimeoutMs: 2000 });
 * console.log(whyVerdict(report).line);
 * ```
 */
export async function diagnose(
  host: string,
  port: number,
  options: DiagnoseOptions = {},
): Promise<WhyReport> {
  let kernel: Promise<KernelConnectLimit> | undefined = options.kernel === undefined
    ? undefined
    : Promise.resolve(options.kernel);
  let kernelUsed = false;
  const stack = options.stack ?? {};
  const proxyLabel = stack.firstHop?.label;
  const s: Settings = {
    host,
    port,
    target: joinHostPort(host, port),
    stack,
    steps: options.steps ?? [],
    connectTimeoutMs: options.connectTimeoutMs ?? WHY_CONNECT_TIMEOUT_MS,
    connectTimeoutFlag: options.connectTimeoutFlag ?? "-w",
    stepTimeoutMs: options.stepTimeoutMs ?? WHY_STEP_TIMEOUT_MS,
    firstByteWaitMs: options.firstByteWaitMs ?? WHY_FIRST_BYTE_WAIT_MS,
    stepTimeoutFlag: options.stepTimeoutFlag ?? "-t",
    signal: options.signal,
    kernel: () => {
      kernelUsed = true;
      kernel ??= readConnectLimit({}).then((l) => ({
        synRetries: l.synRetries,
        maxConnectMs: l.maxConnectMs,
      }));
      return kernel;
    },
    proxyLabel: proxyLabel === undefined || proxyLabel === "" ? undefined : proxyLabel,
  };
  const firstHost = stack.firstHop?.host ?? host;
  const dns = await resolveAll(firstHost, s, options.family);
  const addresses = dns.outcome === "failed"
    ? []
    : await Promise.all(dns.addresses.map((address) => diagnoseAddress(address, s)));
  return {
    target: s.target,
    via: s.proxyLabel === undefined
      ? null
      : `${s.proxyLabel} ${joinHostPort(stack.firstHop!.host, stack.firstHop!.port)}`,
    dns,
    addresses,
    connectTimeoutMs: s.connectTimeoutMs,
    stepTimeoutMs: s.stepTimeoutMs,
    kernel: kernelUsed && kernel !== undefined ? await kernel : null,
  };
}

/**
 * Renders a {@linkcode KernelReading} for people (an aligned table with a
 * meaning and a consequence per parameter) and for programs (one JSON object,
 * schema `tcpc.kernel.v1`, documented on {@linkcode KernelReportJson}).
 * Pure: no I/O.
 *
 * @module
 */

import {
  type BufferSizes,
  deriveLimits,
  KERNEL_PARAM_NAMES,
  KERNEL_PARAMS,
  type KernelLimits,
  type KernelParamName,
  type ParamSource,
  type ParamUnit,
} from "./params.ts";
import { type KernelReading, readingValues } from "./read.ts";

/** One parameter in the JSON report. */
export interface ParamJson {
  /** Dotted sysctl key, e.g. `net.ipv4.tcp_syn_retries`. */
  key: string;
  /** A number for one-value parameters; `[lo, hi]` or `[min, default, max]` otherwise. */
  value: number | number[];
  /** What the numbers count. */
  unit: ParamUnit;
  /** Where the value came from. */
  source: ParamSource;
  /** The stock Linux default, in the same shape as `value`. */
  linuxDefault: number | number[];
  /** One line: what the parameter controls. */
  meaning: string;
  /** Why the value is assumed or odd; null when it was read plainly. */
  note: string | null;
}

/** One derived limit in the JSON report. */
export interface DerivedJson {
  /** The limit: a number, or the min/default/max of a buffer. */
  value: number | BufferSizes;
  /** `ms`, `ports` or `bytes`. */
  unit: "ms" | "ports" | "bytes";
  /** The weakest source among the inputs (`default` beats `sysctl` beats `proc`). */
  source: ParamSource;
  /** The parameters it is computed from. */
  from: KernelParamName[];
  /** How it is computed, with its reference. */
  formula: string;
  /** One line: what it means for a connection. */
  meaning: string;
}

/**
 * The JSON form of `tcpc kernel --json`: one object, printed on one line.
 *
 * ```text
 * {
 *   "schema": "tcpc.kernel.v1",
 *   "os": "linux",                       // Deno.build.os
 *   "root": "/proc/sys/net",             // where files were read
 *   "params": { "<ipv4/name>": ParamJson, ... },   // keyed by path under root
 *   "derived": { "<limitName>": DerivedJson, ... },
 *   "notes": ["..."]                     // whole-report notes, e.g. how to get real values
 * }
 * ```
 */
export interface KernelReportJson {
  /** Always `"tcpc.kernel.v1"`; bumped on incompatible change. */
  schema: "tcpc.kernel.v1";
  /** The operating system. */
  os: string;
  /** The directory parameters were read from. */
  root: string;
  /** Each parameter read, keyed by its path under `root` (`ipv4/tcp_syn_retries`). */
  params: Partial<Record<KernelParamName, ParamJson>>;
  /** Each derived limit, keyed by {@linkcode KernelLimits} field name. */
  derived: Record<keyof KernelLimits, DerivedJson>;
  /** Notes about the whole reading. */
  notes: string[];
}

const RANK: Readonly<Record<ParamSource, number>> = { proc: 0, sysctl: 1, default: 2 };

/** Formulas and inputs of each derived limit (see params.ts for the citations). */
const DERIVED: Readonly<
  Record<
    keyof KernelLimits,
    { from: KernelParamName[]; unit: DerivedJson["unit"]; formula: string; meaning: string }
  >
> = {
  maxConnectMs: {
    from: ["ipv4/tcp_syn_retries"],
    unit: "ms",
    formula: "RTO 1 s doubling per SYN retransmit, each wait capped at 120 s: " +
      "(2^(n+1) - 1) s for n <= 6 (RFC 6298 2.1, 5.5; tcp(7))",
    meaning: "connect() to a silent peer fails with ETIMEDOUT after this long",
  },
  synAckGiveUpMs: {
    from: ["ipv4/tcp_synack_retries"],
    unit: "ms",
    formula: "RTO 1 s doubling per SYN-ACK retransmit, capped at 120 s (RFC 6298; tcp(7))",
    meaning: "a half-open incoming connection is dropped after this long",
  },
  routeRecheckMs: {
    from: ["ipv4/tcp_retries1"],
    unit: "ms",
    formula: "RTO 200 ms (TCP_RTO_MIN) doubling, capped at 120 s (TCP_RTO_MAX): " +
      "Linux tcp_model_timeout() (RFC 6298 5.5; tcp(7))",
    meaning: "unanswered data for this long makes the kernel re-check the route",
  },
  stalledGiveUpMs: {
    from: ["ipv4/tcp_retries2"],
    unit: "ms",
    formula: "RTO 200 ms (TCP_RTO_MIN) doubling, capped at 120 s (TCP_RTO_MAX): " +
      "Linux tcp_model_timeout(); a lower bound, longer RTTs take longer (RFC 6298 5.5; tcp(7))",
    meaning: "unanswered data for this long kills an established connection (ETIMEDOUT)",
  },
  keepaliveDeadPeerMs: {
    from: ["ipv4/tcp_keepalive_time", "ipv4/tcp_keepalive_intvl", "ipv4/tcp_keepalive_probes"],
    unit: "ms",
    formula: "time + intvl * probes seconds (tcp(7))",
    meaning: "a vanished peer is noticed after this long, only on sockets with SO_KEEPALIVE",
  },
  ephemeralPorts: {
    from: ["ipv4/ip_local_port_range"],
    unit: "ports",
    formula: "hi - lo + 1 (ip(7))",
    meaning: "ceiling on concurrent connections from one source address to one ip:port",
  },
  receiveBuffer: {
    from: ["ipv4/tcp_rmem"],
    unit: "bytes",
    formula: "tcp_rmem min, default, max (tcp(7))",
    meaning: "per-socket receive buffer: start at default, autotune up to max",
  },
  sendBuffer: {
    from: ["ipv4/tcp_wmem"],
    unit: "bytes",
    formula: "tcp_wmem min, default, max (tcp(7))",
    meaning: "per-socket send buffer: start at default, autotune up to max",
  },
};

function shaped(values: readonly number[], name: KernelParamName): number | number[] {
  return KERNEL_PARAMS[name].shape === "int" ? values[0] ?? 0 : [...values];
}

function weakest(reading: KernelReading, from: readonly KernelParamName[]): ParamSource {
  let source: ParamSource = "proc";
  for (const name of from) {
    const own = reading.params[name]?.source ?? "default";
    if (RANK[own] > RANK[source]) source = own;
  }
  return source;
}

/**
 * The JSON report object of a reading (see {@linkcode KernelReportJson}).
 *
 * @example Build the report for assumed defaults
 * ```ts
 * import { kernelReportJson } from "./report.ts";
 * import { readKernelParams } from "./read.ts";
 * const report = kernelReportJson(await readKernelParams({ os: "darwin" }));
 * console.log(report.derived.maxConnectMs.value); // 127000
 * ```
 */
export function kernelReportJson(reading: KernelReading): KernelReportJson {
  const params: Partial<Record<KernelParamName, ParamJson>> = {};
  for (const name of KERNEL_PARAM_NAMES) {
    const param = reading.params[name];
    if (!param) continue;
    const spec = KERNEL_PARAMS[name];
    params[name] = {
      key: spec.key,
      value: shaped(param.value, name),
      unit: spec.unit,
      source: param.source,
      linuxDefault: shaped(spec.linuxDefault, name),
      meaning: spec.meaning,
      note: param.note ?? null,
    };
  }
  const limits = deriveLimits(readingValues(reading));
  const derived = {} as Record<keyof KernelLimits, DerivedJson>;
  for (const field of Object.keys(DERIVED) as (keyof KernelLimits)[]) {
    const about = DERIVED[field];
    derived[field] = {
      value: limits[field],
      unit: about.unit,
      source: weakest(reading, about.from),
      from: [...about.from],
      formula: about.formula,
      meaning: about.meaning,
    };
  }
  return {
    schema: "tcpc.kernel.v1",
    os: reading.os,
    root: reading.root,
    params,
    derived,
    notes: [...reading.notes],
  };
}

/**
 * The JSON report as one line of text.
 *
 * @example Print it
 * ```ts
 * import { renderKernelJson } from "./report.ts";
 * import { readKernelParams } from "./read.ts";
 * console.log(renderKernelJson(await readKernelParams()));
 * ```
 */
export function renderKernelJson(reading: KernelReading): string {
  return JSON.stringify(kernelReportJson(reading));
}

/** `924600` -> `15m24.6s`, `7875000` -> `2h11m15s`. */
function human(ms: number): string {
  const tenths = Math.round(ms / 100);
  const h = Math.floor(tenths / 36_000);
  const m = Math.floor((tenths % 36_000) / 600);
  const s = (tenths % 600) / 10;
  const parts = [h ? `${h}h` : "", m ? `${m}m` : "", s || (!h && !m) ? `${s}s` : ""];
  return parts.join("");
}

/** Seconds exactly, then the human form when it differs: `127s (2m7s)`. */
function seconds(ms: number): string {
  const exact = `${Math.round(ms / 100) / 10}s`;
  const friendly = human(ms);
  return friendly === exact ? exact : `${exact} (${friendly})`;
}

/** `131072` -> `128 KiB`, `33554432` -> `32 MiB`. */
function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Math.round(value * 10) / 10} ${units[unit]}`;
}

function consequence(
  name: KernelParamName,
  value: readonly number[],
  limits: KernelLimits,
): string {
  const first = value[0] ?? 0;
  switch (name) {
    case "ipv4/tcp_syn_retries":
      return `connect() times out after ${seconds(limits.maxConnectMs)}`;
    case "ipv4/tcp_synack_retries":
      return `half-open inbound dropped after ${seconds(limits.synAckGiveUpMs)}`;
    case "ipv4/tcp_retries1":
      return `route re-checked after ${seconds(limits.routeRecheckMs)} unanswered`;
    case "ipv4/tcp_retries2":
      return `stalled connection killed after ${seconds(limits.stalledGiveUpMs)} or more`;
    case "ipv4/tcp_keepalive_time":
      return `first probe after ${seconds(first * 1000)} idle`;
    case "ipv4/tcp_keepalive_intvl":
      return `probes every ${seconds(first * 1000)}`;
    case "ipv4/tcp_keepalive_probes":
      return `dead peer noticed after ${seconds(limits.keepaliveDeadPeerMs)}, with SO_KEEPALIVE`;
    case "ipv4/tcp_rmem":
    case "ipv4/tcp_wmem": {
      const sizes = name === "ipv4/tcp_rmem" ? limits.receiveBuffer : limits.sendBuffer;
      return `starts at ${bytes(sizes.default)}, autotunes up to ${bytes(sizes.max)}`;
    }
    case "ipv4/tcp_fin_timeout":
      return `orphans linger ${seconds(first * 1000)} in FIN-WAIT-2`;
    case "ipv4/ip_local_port_range":
      return `${limits.ephemeralPorts} ports: max concurrent connects to one ip:port`;
    case "ipv4/tcp_tw_reuse":
      return first === 0
        ? "TIME-WAIT ports are not reused"
        : first === 1
        ? "TIME-WAIT ports reused for outgoing connects"
        : first === 2
        ? "TIME-WAIT ports reused on loopback only"
        : `unknown mode ${first}`;
    case "core/somaxconn":
      return `listen() backlogs above ${first} are cut to ${first}`;
    case "core/rmem_max":
      return `SO_RCVBUF requests above ${bytes(first)} are capped`;
    case "core/wmem_max":
      return `SO_SNDBUF requests above ${bytes(first)} are capped`;
  }
}

/**
 * The table of `tcpc kernel`: a header, one row per parameter (name, value,
 * source, meaning, consequence), then notes, as lines without trailing spaces.
 *
 * @example Print the table
 * ```ts
 * import { renderKernelTable } from "./report.ts";
 * import { readKernelParams } from "./read.ts";
 * for (const line of renderKernelTable(await readKernelParams())) console.log(line);
 * ```
 */
export function renderKernelTable(reading: KernelReading): string[] {
  const limits = deriveLimits(readingValues(reading));
  const rows: string[][] = [["PARAMETER", "VALUE", "SOURCE", "MEANING", "CONSEQUENCE"]];
  const byNote = new Map<string, KernelParamName[]>();
  let count = 0;
  for (const name of KERNEL_PARAM_NAMES) {
    const param = reading.params[name];
    if (!param) continue;
    count++;
    rows.push([
      name,
      param.value.join(" "),
      param.source,
      KERNEL_PARAMS[name].meaning,
      consequence(name, param.value, limits),
    ]);
    if (param.note !== undefined) byNote.set(param.note, [...byNote.get(param.note) ?? [], name]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = rows.map((row) =>
    row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()
  );
  const notes = [
    ...reading.notes,
    ...[...byNote].map(([note, names]) =>
      `${names.length === count && count > 1 ? "all values" : names.join(", ")}: ${note}`
    ),
  ];
  if (notes.length > 0) lines.push("", "notes:", ...notes.map((note) => `  ${note}`));
  return lines;
}

/**
 * The Linux TCP parameters tcpc explains: the table of what each one means
 * (tcp(7), ip(7), socket(7)), pure parsers from `/proc/sys/net` and `sysctl`
 * text to numbers, and the limits derived from them (RFC 6298 backoff).
 *
 * Nothing here does I/O: `read.ts` fetches text, these functions interpret it.
 *
 * @module
 */

/** Where a value came from: a `/proc` file, the `sysctl` program, or an assumed Linux default. */
export type ParamSource = "proc" | "sysctl" | "default";

/** How many whitespace-separated integers a parameter's text holds. */
export type ParamShape = "int" | "pair" | "triple";

/** What a parameter's numbers count. */
export type ParamUnit = "count" | "seconds" | "bytes" | "ports" | "mode";

/**
 * The parameters tcpc reads, as paths under `/proc/sys/net`.
 *
 * @example List the names
 * ```ts
 * import { KERNEL_PARAM_NAMES } from "./params.ts";
 * console.log(KERNEL_PARAM_NAMES[0]); // ipv4/tcp_syn_retries
 * ```
 */
export const KERNEL_PARAM_NAMES = [
  "ipv4/tcp_syn_retries",
  "ipv4/tcp_synack_retries",
  "ipv4/tcp_retries1",
  "ipv4/tcp_retries2",
  "ipv4/tcp_keepalive_time",
  "ipv4/tcp_keepalive_intvl",
  "ipv4/tcp_keepalive_probes",
  "ipv4/tcp_rmem",
  "ipv4/tcp_wmem",
  "ipv4/tcp_fin_timeout",
  "ipv4/ip_local_port_range",
  "ipv4/tcp_tw_reuse",
  "core/somaxconn",
  "core/rmem_max",
  "core/wmem_max",
] as const;

/** One of {@linkcode KERNEL_PARAM_NAMES}. */
export type KernelParamName = typeof KERNEL_PARAM_NAMES[number];

/** What tcpc knows about one parameter before reading it. */
export interface KernelParamSpec {
  /** Path under `/proc/sys/net`, e.g. `ipv4/tcp_syn_retries`. */
  readonly name: KernelParamName;
  /** The dotted `sysctl` key, e.g. `net.ipv4.tcp_syn_retries`. */
  readonly key: string;
  /** How many integers the text holds. */
  readonly shape: ParamShape;
  /** What the integers count. */
  readonly unit: ParamUnit;
  /** The value a stock Linux kernel boots with, used when the real one cannot be read. */
  readonly linuxDefault: readonly number[];
  /** One line: what the parameter controls. */
  readonly meaning: string;
}

function spec(
  name: KernelParamName,
  shape: ParamShape,
  unit: ParamUnit,
  linuxDefault: readonly number[],
  meaning: string,
): KernelParamSpec {
  return { name, key: sysctlKey(name), shape, unit, linuxDefault, meaning };
}

/**
 * Every parameter with its shape, unit, stock Linux default and meaning.
 *
 * Defaults are those of a stock x86_64 kernel as documented in tcp(7) and
 * Documentation/networking/ip-sysctl.rst. The buffer maxima depend on memory
 * and kernel version (newer 6.x kernels raise `tcp_rmem` max to 32 MiB and
 * `rmem_max`/`wmem_max` to 4 MiB), so they are the least certain; tcpc labels
 * every assumed value as such.
 *
 * @example Look up a parameter
 * ```ts
 * import { KERNEL_PARAMS } from "./params.ts";
 * console.log(KERNEL_PARAMS["ipv4/tcp_syn_retries"].key); // net.ipv4.tcp_syn_retries
 * ```
 */
export const KERNEL_PARAMS: Readonly<Record<KernelParamName, KernelParamSpec>> = {
  // tcp(7): "The maximum number of times initial SYNs for an active TCP connection attempt will be
  // retransmitted. [...] The default value is 6, which corresponds to retrying for up to
  // approximately 127 seconds."
  "ipv4/tcp_syn_retries": spec(
    "ipv4/tcp_syn_retries",
    "int",
    "count",
    [6],
    "SYN retransmits before connect() gives up",
  ),
  // tcp(7): retransmits of the SYN/ACK for a passive open; default 5 (~63 s with a 1 s RTO).
  "ipv4/tcp_synack_retries": spec(
    "ipv4/tcp_synack_retries",
    "int",
    "count",
    [5],
    "SYN-ACK retransmits for an incoming connection",
  ),
  // tcp(7): retransmits "normally, without the extra effort of getting the network layers
  // involved"; after this many the kernel asks routing to re-check the path. Default 3.
  "ipv4/tcp_retries1": spec(
    "ipv4/tcp_retries1",
    "int",
    "count",
    [3],
    "retransmits before routing is asked to re-check",
  ),
  // tcp(7): "The maximum number of times a TCP packet is retransmitted in established state
  // before giving up. The default value is 15, which corresponds to a duration of approximately
  // between 13 to 30 minutes, depending on the retransmission timeout."
  "ipv4/tcp_retries2": spec(
    "ipv4/tcp_retries2",
    "int",
    "count",
    [15],
    "retransmits before an established connection dies",
  ),
  // tcp(7): idle seconds before keepalive probes start, on sockets with SO_KEEPALIVE. Default 7200.
  "ipv4/tcp_keepalive_time": spec(
    "ipv4/tcp_keepalive_time",
    "int",
    "seconds",
    [7200],
    "idle time before the first keepalive probe",
  ),
  // tcp(7): seconds between keepalive probes. Default 75.
  "ipv4/tcp_keepalive_intvl": spec(
    "ipv4/tcp_keepalive_intvl",
    "int",
    "seconds",
    [75],
    "time between keepalive probes",
  ),
  // tcp(7): unanswered probes before the connection is dropped. Default 9.
  "ipv4/tcp_keepalive_probes": spec(
    "ipv4/tcp_keepalive_probes",
    "int",
    "count",
    [9],
    "unanswered probes before the peer is dead",
  ),
  // tcp(7): min, default and max receive buffer per socket; autotuning moves between them.
  "ipv4/tcp_rmem": spec(
    "ipv4/tcp_rmem",
    "triple",
    "bytes",
    [4096, 131072, 6291456],
    "receive buffer min, default, max",
  ),
  // tcp(7): min, default and max send buffer per socket.
  "ipv4/tcp_wmem": spec(
    "ipv4/tcp_wmem",
    "triple",
    "bytes",
    [4096, 16384, 4194304],
    "send buffer min, default, max",
  ),
  // tcp(7): how long an orphaned connection stays in FIN-WAIT-2. Default 60 s.
  "ipv4/tcp_fin_timeout": spec(
    "ipv4/tcp_fin_timeout",
    "int",
    "seconds",
    [60],
    "time an orphan waits in FIN-WAIT-2",
  ),
  // ip(7): the range of local ports for connects without an explicit bind. Default 32768-60999.
  "ipv4/ip_local_port_range": spec(
    "ipv4/ip_local_port_range",
    "pair",
    "ports",
    [32768, 60999],
    "ephemeral ports for outgoing connections",
  ),
  // ip-sysctl.rst: 0 off, 1 on, 2 loopback only (the stock default on current kernels).
  "ipv4/tcp_tw_reuse": spec(
    "ipv4/tcp_tw_reuse",
    "int",
    "mode",
    [2],
    "reuse TIME-WAIT ports for new connects",
  ),
  // listen(2): the backlog argument is silently capped at somaxconn. Default 4096 since Linux 5.4.
  "core/somaxconn": spec(
    "core/somaxconn",
    "int",
    "count",
    [4096],
    "cap on the listen() backlog",
  ),
  // socket(7): SO_RCVBUF requests are capped at rmem_max (then doubled by the kernel).
  "core/rmem_max": spec(
    "core/rmem_max",
    "int",
    "bytes",
    [212992],
    "cap on SO_RCVBUF set by setsockopt()",
  ),
  // socket(7): SO_SNDBUF requests are capped at wmem_max (then doubled by the kernel).
  "core/wmem_max": spec(
    "core/wmem_max",
    "int",
    "bytes",
    [212992],
    "cap on SO_SNDBUF set by setsockopt()",
  ),
};

/**
 * The dotted `sysctl` key of a parameter path: `ipv4/tcp_rmem` -> `net.ipv4.tcp_rmem`.
 *
 * @example Convert a name
 * ```ts
 * import { sysctlKey } from "./params.ts";
 * console.log(sysctlKey("core/somaxconn")); // net.core.somaxconn
 * ```
 */
export function sysctlKey(name: KernelParamName): string {
  return `net.${name.replaceAll("/", ".")}`;
}

const COUNTS: Readonly<Record<ParamShape, number>> = { int: 1, pair: 2, triple: 3 };

/**
 * Parses the text of one parameter (a `/proc` file or a `sysctl` value): one,
 * two or three non-negative integers separated by whitespace, as `shape` says.
 * Throws a `RangeError` naming the problem when the text does not fit.
 *
 * @example Parse tcp_rmem
 * ```ts
 * import { parseParamText } from "./params.ts";
 * console.log(parseParamText("4096\t131072\t6291456\n", "triple")); // [4096, 131072, 6291456]
 * ```
 */
export function parseParamText(text: string, shape: ParamShape): number[] {
  const fields = text.trim().split(/\s+/).filter((field) => field !== "");
  const want = COUNTS[shape];
  if (fields.length !== want) {
    throw new RangeError(
      `expected ${want} integer${want === 1 ? "" : "s"}, got ${JSON.stringify(text.trim())}`,
    );
  }
  return fields.map((field) => {
    const value = /^\d+$/.test(field) ? Number(field) : NaN;
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`not a non-negative integer: ${JSON.stringify(field)}`);
    }
    return value;
  });
}

/**
 * Parses the output of `sysctl KEY...` (without `-n`): one `key = value` line
 * per key that exists. Lines that do not look like that are skipped, so keys
 * sysctl could not read are simply absent from the map.
 *
 * @example Parse two lines
 * ```ts
 * import { parseSysctlOutput } from "./params.ts";
 * const map = parseSysctlOutput("net.ipv4.tcp_syn_retries = 6\nnet.ipv4.tcp_rmem = 4096\t131072\t6291456\n");
 * console.log(map.get("net.ipv4.tcp_syn_retries")); // 6
 * ```
 */
export function parseSysctlOutput(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const at = line.indexOf(" = ");
    if (at <= 0) continue;
    values.set(line.slice(0, at).trim(), line.slice(at + 3).trim());
  }
  return values;
}

/**
 * The minimum retransmission timeout of Linux (`TCP_RTO_MIN`, 200 ms): the RTO
 * an established connection starts backing off from in the kernel's model.
 * RFC 6298 (2.4) suggests 1 s; Linux uses 200 ms.
 */
const TCP_RTO_MIN_MS = 200;
/** The initial RTO before any RTT sample (`TCP_TIMEOUT_INIT`), 1 s as RFC 6298 (2.1) says. */
const TCP_TIMEOUT_INIT_MS = 1000;
/**
 * The RTO ceiling (`TCP_RTO_MAX`, 120 s); RFC 6298 (2.5) allows a cap of at least 60 s.
 * Recent kernels let `net.ipv4.tcp_rto_max_ms` lower it; tcpc models the stock ceiling.
 */
const TCP_RTO_MAX_MS = 120_000;

/** Options of {@linkcode backoffTotalMs}. */
export interface BackoffTotalOptions {
  /** The first retransmission timeout. @default {200} (Linux `TCP_RTO_MIN`) */
  initialRtoMs?: number;
  /** The ceiling each doubled timeout is capped at. @default {120000} (Linux `TCP_RTO_MAX`) */
  maxRtoMs?: number;
}

/**
 * Total time from the first transmission until the kernel gives up after
 * `retries` retransmissions, with the RTO doubling each time (RFC 6298, 5.5)
 * and capped at `maxRtoMs` (RFC 6298, 2.5). There are `retries + 1` waits:
 * one after the original segment and one after each retransmission.
 *
 * This is Linux's `tcp_model_timeout()` (net/ipv4/tcp_timer.c):
 * with `thresh = floor(log2(max / initial))`,
 * `retries <= thresh`: `(2^(retries+1) - 1) * initial`;
 * otherwise `(2^(thresh+1) - 1) * initial + (retries - thresh) * max`.
 * Throws a `RangeError` when `retries` is not a non-negative integer.
 *
 * @example tcp_retries2 = 15 from 200 ms
 * ```ts
 * import { backoffTotalMs } from "./params.ts";
 * console.log(backoffTotalMs(15)); // 924600
 * ```
 */
export function backoffTotalMs(retries: number, options: BackoffTotalOptions = {}): number {
  const initial = options.initialRtoMs ?? TCP_RTO_MIN_MS;
  const max = options.maxRtoMs ?? TCP_RTO_MAX_MS;
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new RangeError(`invalid retry count "${retries}": must be a whole number >= 0`);
  }
  if (!(initial > 0) || !(max >= initial)) {
    throw new RangeError(`invalid RTO bounds "${initial}"-"${max}" ms`);
  }
  // thresh: the last retransmission whose doubled RTO still fits under the cap.
  let thresh = 0;
  while (initial * 2 ** (thresh + 1) <= max) thresh++;
  if (retries <= thresh) return (2 ** (retries + 1) - 1) * initial;
  return (2 ** (thresh + 1) - 1) * initial + (retries - thresh) * max;
}

/**
 * How long `connect()` waits for a silent peer before `ETIMEDOUT`, from
 * `tcp_syn_retries`: the initial RTO of 1 s (RFC 6298, 2.1) doubles per SYN
 * retransmission, so the waits are 1 + 2 + 4 + ... + 2^n s = (2^(n+1) - 1) s,
 * capped per wait at 120 s. tcp(7): 6 retries -> about 127 s.
 *
 * @example The stock value
 * ```ts
 * import { maxConnectMs } from "./params.ts";
 * console.log(maxConnectMs(6)); // 127000
 * ```
 */
export function maxConnectMs(synRetries: number): number {
  return backoffTotalMs(synRetries, { initialRtoMs: TCP_TIMEOUT_INIT_MS });
}

/**
 * How long a passive open keeps retransmitting its SYN-ACK before dropping a
 * half-open connection, from `tcp_synack_retries`; same 1 s doubling as
 * {@linkcode maxConnectMs}: 5 -> 63 s.
 *
 * @example The stock value
 * ```ts
 * import { synAckGiveUpMs } from "./params.ts";
 * console.log(synAckGiveUpMs(5)); // 63000
 * ```
 */
export function synAckGiveUpMs(synAckRetries: number): number {
  return backoffTotalMs(synAckRetries, { initialRtoMs: TCP_TIMEOUT_INIT_MS });
}

/**
 * How long an established connection retransmits unanswered data before the
 * kernel acts, from `tcp_retries1` (routing re-check) or `tcp_retries2`
 * (connection killed, `ETIMEDOUT`). Linux models it from `TCP_RTO_MIN`
 * (200 ms) doubling per RFC 6298 (5.5), capped at `TCP_RTO_MAX` (120 s):
 * 3 -> 3 s, 15 -> 924.6 s. tcp(7) calls 924.6 s a lower bound: a path with a
 * longer measured RTO takes longer.
 *
 * @example tcp_retries2
 * ```ts
 * import { retransmitGiveUpMs } from "./params.ts";
 * console.log(retransmitGiveUpMs(15)); // 924600
 * ```
 */
export function retransmitGiveUpMs(retries: number): number {
  return backoffTotalMs(retries, { initialRtoMs: TCP_RTO_MIN_MS });
}

/** The three keepalive parameters, in their /proc units. */
export interface KeepaliveSettings {
  /** `tcp_keepalive_time`: idle seconds before the first probe. */
  timeS: number;
  /** `tcp_keepalive_intvl`: seconds between probes. */
  intervalS: number;
  /** `tcp_keepalive_probes`: unanswered probes before the peer is declared dead. */
  probes: number;
}

/**
 * How long a silent dead peer goes unnoticed on a socket with SO_KEEPALIVE:
 * `time + intvl * probes` seconds (tcp(7)): 7200 + 75 * 9 = 7875 s.
 *
 * @example The stock values
 * ```ts
 * import { keepaliveDeadPeerMs } from "./params.ts";
 * console.log(keepaliveDeadPeerMs({ timeS: 7200, intervalS: 75, probes: 9 })); // 7875000
 * ```
 */
export function keepaliveDeadPeerMs(settings: KeepaliveSettings): number {
  return (settings.timeS + settings.intervalS * settings.probes) * 1000;
}

/**
 * The number of ephemeral ports in `ip_local_port_range` (`hi - lo + 1`, ip(7)):
 * the ceiling on concurrent connections from one source address to one
 * destination address and port. An inverted range counts as zero.
 *
 * @example The stock range
 * ```ts
 * import { ephemeralPortCount } from "./params.ts";
 * console.log(ephemeralPortCount(32768, 60999)); // 28232
 * ```
 */
export function ephemeralPortCount(low: number, high: number): number {
  return Math.max(0, high - low + 1);
}

/** A buffer triple from `tcp_rmem` or `tcp_wmem`, in bytes. */
export interface BufferSizes {
  /** Floor the kernel keeps even under memory pressure. */
  min: number;
  /** Initial size of a new socket's buffer. */
  default: number;
  /** Ceiling of autotuning (an explicit SO_RCVBUF/SO_SNDBUF is capped by rmem_max/wmem_max). */
  max: number;
}

/** The limits that follow from the parameters. */
export interface KernelLimits {
  /** `connect()` gives up after this long ({@linkcode maxConnectMs}). */
  maxConnectMs: number;
  /** A half-open incoming connection is dropped after this long ({@linkcode synAckGiveUpMs}). */
  synAckGiveUpMs: number;
  /** Unanswered data for this long triggers a routing re-check (`tcp_retries1`). */
  routeRecheckMs: number;
  /** Unanswered data for this long kills the connection (`tcp_retries2`). */
  stalledGiveUpMs: number;
  /** A dead peer is noticed after this long, with SO_KEEPALIVE ({@linkcode keepaliveDeadPeerMs}). */
  keepaliveDeadPeerMs: number;
  /** Ephemeral ports available ({@linkcode ephemeralPortCount}). */
  ephemeralPorts: number;
  /** `tcp_rmem`. */
  receiveBuffer: BufferSizes;
  /** `tcp_wmem`. */
  sendBuffer: BufferSizes;
}

/** Parsed values of every parameter, each as the integers its text holds. */
export type KernelValues = Readonly<Record<KernelParamName, readonly number[]>>;

/**
 * The Linux defaults of every parameter, from {@linkcode KERNEL_PARAMS}.
 *
 * @example
 * ```ts
 * import { linuxDefaults } from "./params.ts";
 * console.log(linuxDefaults()["ipv4/tcp_retries2"]); // [15]
 * ```
 */
export function linuxDefaults(): KernelValues {
  return Object.fromEntries(
    KERNEL_PARAM_NAMES.map((name) => [name, KERNEL_PARAMS[name].linuxDefault]),
  ) as Record<KernelParamName, readonly number[]>;
}

/** A value, or the stock one where `values` is short (every default has its shape's length). */
function at(values: KernelValues, name: KernelParamName, index = 0): number {
  return values[name][index] ?? KERNEL_PARAMS[name].linuxDefault[index]!;
}

function buffers(values: KernelValues, name: KernelParamName): BufferSizes {
  return { min: at(values, name, 0), default: at(values, name, 1), max: at(values, name, 2) };
}

/**
 * Every derived limit from a full set of parameter values.
 *
 * @example The stock kernel
 * ```ts
 * import { deriveLimits, linuxDefaults } from "./params.ts";
 * console.log(deriveLimits(linuxDefaults()).stalledGiveUpMs); // 924600
 * ```
 */
export function deriveLimits(values: KernelValues): KernelLimits {
  return {
    maxConnectMs: maxConnectMs(at(values, "ipv4/tcp_syn_retries")),
    synAckGiveUpMs: synAckGiveUpMs(at(values, "ipv4/tcp_synack_retries")),
    routeRecheckMs: retransmitGiveUpMs(at(values, "ipv4/tcp_retries1")),
    stalledGiveUpMs: retransmitGiveUpMs(at(values, "ipv4/tcp_retries2")),
    keepaliveDeadPeerMs: keepaliveDeadPeerMs({
      timeS: at(values, "ipv4/tcp_keepalive_time"),
      intervalS: at(values, "ipv4/tcp_keepalive_intvl"),
      probes: at(values, "ipv4/tcp_keepalive_probes"),
    }),
    ephemeralPorts: ephemeralPortCount(
      at(values, "ipv4/ip_local_port_range", 0),
      at(values, "ipv4/ip_local_port_range", 1),
    ),
    receiveBuffer: buffers(values, "ipv4/tcp_rmem"),
    sendBuffer: buffers(values, "ipv4/tcp_wmem"),
  };
}

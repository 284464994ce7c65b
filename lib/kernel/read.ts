/**
 * Reads the Linux TCP parameters of {@linkcode KERNEL_PARAMS} through one chain,
 * value by value:
 *
 * 1. One read of at most 4 KiB from `root + "/" + name`: source `"proc"`.
 * 2. If Deno refused the read (`NotCapable`: Deno 2.9 wants `--allow-all` for
 *    anything under `/proc`, even with `--allow-read=/proc/sys/net`) and the
 *    process may run `sysctl`, one `sysctl KEY...` for all refused keys: source
 *    `"sysctl"`.
 * 3. Otherwise the stock Linux default, source `"default"`, with a note saying
 *    why and which flag would give the real value.
 *
 * A missing or malformed file falls back to the default with a note; no raw
 * `NotFound` or `NotCapable` escapes. Off Linux nothing is read: every value is
 * the Linux default, labelled, and a note says the OS is not Linux.
 *
 * @module
 */

import {
  KERNEL_PARAM_NAMES,
  KERNEL_PARAMS,
  type KernelParamName,
  type KernelValues,
  maxConnectMs,
  type ParamSource,
  parseParamText,
  parseSysctlOutput,
} from "./params.ts";

/** Where tcpc reads parameters from by default. */
const DEFAULT_ROOT = "/proc/sys/net";

/** What to run with `--allow-run=sysctl`; resolved on PATH. */
const DEFAULT_SYSCTL = "sysctl";

/** The flag hint shown when values had to be assumed. */
const REAL_VALUES_HINT =
  "run with --allow-all, or allow running sysctl (--allow-run=sysctl, as `deno run -P` does), for real values";

/** One parameter as read. */
export interface ParamReading {
  /** The integers of the value (one, two or three, as the parameter's shape says). */
  value: number[];
  /** Where the value came from. */
  source: ParamSource;
  /** Why the value is not from `/proc`, when it is not obvious (always set for `"default"`). */
  note?: string;
}

/** Everything {@linkcode readKernelParams} found. */
export interface KernelReading {
  /** `Deno.build.os` (or the `os` option). */
  os: string;
  /** The directory read from. */
  root: string;
  /** Each requested parameter. */
  params: Partial<Record<KernelParamName, ParamReading>>;
  /** Notes about the whole reading (not Linux, no sysctl, how to get real values). */
  notes: string[];
}

/** Options of {@linkcode readKernelParams}. */
export interface ReadKernelParamsOptions {
  /** Directory holding `ipv4/...` and `core/...`. @default {"/proc/sys/net"} */
  root?: string;
  /** Aborts the reads and the sysctl run; the promise rejects with its reason. */
  signal?: AbortSignal;
  /** Which parameters to read. @default {KERNEL_PARAM_NAMES} (all) */
  names?: readonly KernelParamName[];
  /** The operating system; anything but `"linux"` reads nothing. @default {Deno.build.os} */
  os?: string;
  /** The sysctl program run when `/proc` is refused (tests point it at fakes). @default {"sysctl"} */
  sysctlCommand?: string;
}

/** The outcome of reading one file. */
type FileOutcome =
  | { kind: "ok"; reading: ParamReading }
  | { kind: "refused" }
  | { kind: "fallback"; note: string };

function fallback(name: KernelParamName, note: string): ParamReading {
  return { value: [...KERNEL_PARAMS[name].linuxDefault], source: "default", note };
}

/** `Name: message` of an error from a Deno file or process op (always an Error). */
function messageOf(err: unknown): string {
  const { name, message } = err as Error;
  return `${name}: ${message}`;
}

/**
 * Most bytes read from one parameter file. The longest real value (three
 * integers of tcp_rmem) is under 40 bytes; the cap keeps a `--root` whose file
 * is a FIFO or a link to `/dev/zero` from growing memory without end.
 */
const MAX_PARAM_BYTES = 4096;

/**
 * Opens the file and reads it with one bounded read (a value file is never
 * longer); null when the read filled the whole buffer (not a parameter file).
 */
async function readCapped(path: string, signal: AbortSignal | undefined): Promise<string | null> {
  signal?.throwIfAborted();
  const file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(MAX_PARAM_BYTES);
  // One read: /proc/sys files return the whole value in the first read, and a
  // regular fixture file of a few bytes does too. A FIFO with no writer would
  // block here, so the abort closes the file under the read.
  const onAbort = () => {
    try {
      file.close();
    } catch { /* closed already */ }
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const n = await file.read(buf);
    signal?.throwIfAborted();
    if (n === MAX_PARAM_BYTES) return null;
    return new TextDecoder().decode(buf.subarray(0, n ?? 0));
  } finally {
    signal?.removeEventListener("abort", onAbort);
    onAbort();
  }
}

async function readOne(
  root: string,
  name: KernelParamName,
  signal: AbortSignal | undefined,
): Promise<FileOutcome> {
  const path = `${root}/${name}`;
  let text: string | null;
  try {
    text = await readCapped(path, signal);
  } catch (err) {
    signal?.throwIfAborted();
    if (err instanceof Deno.errors.NotCapable) return { kind: "refused" };
    if (err instanceof Deno.errors.NotFound) {
      return {
        kind: "fallback",
        note: `assumed Linux default: no such file under "${root}"`,
      };
    }
    return {
      kind: "fallback",
      note: `assumed Linux default: cannot read the file: ${messageOf(err)}`,
    };
  }
  if (text === null) {
    return {
      kind: "fallback",
      note: `assumed Linux default: the file holds ${MAX_PARAM_BYTES} bytes or more, not a value`,
    };
  }
  try {
    return {
      kind: "ok",
      reading: { value: parseParamText(text, KERNEL_PARAMS[name].shape), source: "proc" },
    };
  } catch (err) {
    return {
      kind: "fallback",
      note: `assumed Linux default: malformed file: ${(err as Error).message}`,
    };
  }
}

async function sysctlAllowed(command: string): Promise<boolean> {
  try {
    const status = await Deno.permissions.query({ name: "run", command });
    return status.state === "granted";
  } catch {
    return false;
  }
}

/**
 * Runs `sysctl KEY...` once for all keys (read only: never `-w`, keys only from
 * {@linkcode KERNEL_PARAMS}). Without `-n` each line says `key = value`, so a
 * key sysctl cannot read is just absent and the others still count; no
 * per-key retry is needed.
 */
async function readWithSysctl(
  names: readonly KernelParamName[],
  command: string,
  signal: AbortSignal | undefined,
): Promise<{ readings: Map<KernelParamName, ParamReading>; note?: string }> {
  const readings = new Map<KernelParamName, ParamReading>();
  // The keys are literals of KERNEL_PARAMS (tests/kernel_params_test.ts checks
  // each is a dotted `net.` key), passed as arguments without a shell.
  const keys = names.map((name) => KERNEL_PARAMS[name].key);
  let output: Deno.CommandOutput | { failed: unknown };
  try {
    output = await new Deno.Command(command, {
      args: keys,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(signal ? { signal } : {}),
    }).output();
  } catch (err) {
    output = { failed: err };
  }
  // An abort kills sysctl (its output is then partial) or stops the spawn.
  signal?.throwIfAborted();
  if ("failed" in output) {
    const why = output.failed instanceof Deno.errors.NotFound
      ? `"${command}" is not installed (package procps)`
      : `cannot run "${command}": ${messageOf(output.failed)}`;
    for (const name of names) readings.set(name, fallback(name, `assumed Linux default: ${why}`));
    return { readings, note: `sysctl failed: ${why}` };
  }
  const values = parseSysctlOutput(new TextDecoder().decode(output.stdout));
  const errors = new TextDecoder().decode(output.stderr).split("\n").filter((l) => l.trim());
  for (const name of names) {
    const key = KERNEL_PARAMS[name].key;
    const text = values.get(key);
    if (text === undefined) {
      const why = errors.find((line) => line.includes(key) || line.includes(`/${name}`));
      readings.set(
        name,
        fallback(
          name,
          `assumed Linux default: sysctl gave no value for ${key}${why ? `: ${why}` : ""}`,
        ),
      );
      continue;
    }
    try {
      readings.set(name, {
        value: parseParamText(text, KERNEL_PARAMS[name].shape),
        source: "sysctl",
      });
    } catch (err) {
      readings.set(
        name,
        fallback(
          name,
          `assumed Linux default: malformed sysctl value for ${key}: ${(err as Error).message}`,
        ),
      );
    }
  }
  return { readings };
}

/**
 * Reads the parameters through the `/proc` -> `sysctl` -> default chain.
 * Never rejects for a missing, refused or malformed value (it falls back and
 * says why); rejects only with the signal's reason when aborted.
 *
 * @example Read everything and print where tcp_syn_retries came from
 * ```ts
 * import { readKernelParams } from "./read.ts";
 * const reading = await readKernelParams();
 * console.log(reading.params["ipv4/tcp_syn_retries"]?.source); // "proc", "sysctl" or "default"
 * ```
 */
export async function readKernelParams(
  options: ReadKernelParamsOptions = {},
): Promise<KernelReading> {
  const root = options.root ?? DEFAULT_ROOT;
  const names = options.names ?? KERNEL_PARAM_NAMES;
  const os = options.os ?? Deno.build.os;
  const command = options.sysctlCommand ?? DEFAULT_SYSCTL;
  const signal = options.signal;
  signal?.throwIfAborted();
  const params: Partial<Record<KernelParamName, ParamReading>> = {};
  const notes: string[] = [];

  if (os !== "linux") {
    // Other systems name and size these limits differently (e.g. net.inet.tcp.* on BSD):
    // show the Linux defaults for reference, labelled, rather than read something else.
    for (const name of names) {
      params[name] = fallback(name, `Linux default for reference: this system is ${os}`);
    }
    notes.push(`not Linux (${os}): every value is a Linux default, shown for reference only`);
    return { os, root, params, notes };
  }

  const outcomes = await Promise.all(names.map((name) => readOne(root, name, signal)));
  const refused: KernelParamName[] = [];
  names.forEach((name, index) => {
    const outcome = outcomes[index];
    if (outcome?.kind === "ok") params[name] = outcome.reading;
    else if (outcome?.kind === "fallback") params[name] = fallback(name, outcome.note);
    else refused.push(name);
  });

  if (refused.length > 0) {
    if (await sysctlAllowed(command)) {
      const { readings, note } = await readWithSysctl(refused, command, signal);
      for (const [name, reading] of readings) params[name] = reading;
      if (note) notes.push(`${note}; run with --allow-all for real values`);
    } else {
      signal?.throwIfAborted();
      for (const name of refused) {
        params[name] = fallback(
          name,
          "assumed Linux default: the read was refused and running sysctl is not allowed",
        );
      }
      notes.push(
        `${refused.length} value(s) assumed: Deno refused the read (/proc needs --allow-all): ${REAL_VALUES_HINT}`,
      );
    }
  }
  return { os, root, params, notes };
}

/**
 * Values of a reading for {@linkcode deriveLimits}, with defaults for any
 * parameter that was not requested.
 *
 * @example Derive limits from a reading
 * ```ts
 * import { readKernelParams, readingValues } from "./read.ts";
 * import { deriveLimits } from "./params.ts";
 * console.log(deriveLimits(readingValues(await readKernelParams())).maxConnectMs);
 * ```
 */
export function readingValues(reading: KernelReading): KernelValues {
  return Object.fromEntries(
    KERNEL_PARAM_NAMES.map((name) => [
      name,
      reading.params[name]?.value ?? KERNEL_PARAMS[name].linuxDefault,
    ]),
  ) as Record<KernelParamName, readonly number[]>;
}

/** The kernel's own connect timeout, as {@linkcode readConnectLimit} finds it. */
export interface ConnectLimit {
  /** `net.ipv4.tcp_syn_retries`. */
  synRetries: number;
  /** How long `connect()` waits for a silent peer ({@linkcode maxConnectMs}). */
  maxConnectMs: number;
  /** Where `synRetries` came from. */
  source: ParamSource;
  /** Why the value is assumed, when `source` is `"default"`. */
  note?: string;
}

/** Options of {@linkcode readConnectLimit}. */
export interface ReadConnectLimitOptions {
  /** Directory holding `ipv4/tcp_syn_retries`. @default {"/proc/sys/net"} */
  root?: string;
  /** Aborts the read; the promise rejects with its reason. */
  signal?: AbortSignal;
}

/**
 * Reads only `tcp_syn_retries` through the same chain, for the connect path:
 * the longest a connect without a deadline of our own can hang (tcp(7)).
 *
 * @example State the kernel's connect timeout
 * ```ts
 * import { readConnectLimit } from "./read.ts";
 * const limit = await readConnectLimit();
 * console.log(`${limit.synRetries} SYN retries: ${limit.maxConnectMs / 1000} s (${limit.source})`);
 * ```
 */
export async function readConnectLimit(
  options: ReadConnectLimitOptions = {},
): Promise<ConnectLimit> {
  const name = "ipv4/tcp_syn_retries";
  const reading = await readKernelParams({
    names: [name],
    ...(options.root !== undefined ? { root: options.root } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  // readKernelParams() gives every name asked for a reading of its shape (one integer).
  const param = reading.params[name]!;
  const synRetries = param.value[0]!;
  return {
    synRetries,
    maxConnectMs: maxConnectMs(synRetries),
    source: param.source,
    ...(param.note !== undefined ? { note: param.note } : {}),
  };
}

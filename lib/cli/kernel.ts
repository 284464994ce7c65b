/**
 * `tcpc kernel`: the Linux kernel's TCP limits, read and explained.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { quoteValue } from "./quote.ts";
import { readKernelParams } from "../kernel/read.ts";
import { renderKernelJson, renderKernelTable } from "../kernel/report.ts";
import { boolFlag, parseCommandLine, stringFlag } from "./args.ts";
import type { CommandContext } from "./context.ts";
import { type FlagTable, HELP_FLAG, helpText, parseConfig } from "./flags.ts";

/**
 * The flags of `tcpc kernel`: the one source of its parse config, `--help`
 * and README table.
 *
 * @example
 * ```ts
 * import { KERNEL_TABLE } from "./kernel.ts";
 * console.log(KERNEL_TABLE.map((flag) => flag.name)); // ["json", "root", "help"]
 * ```
 */
export const KERNEL_TABLE: FlagTable = [
  {
    name: "json",
    type: "boolean",
    help: 'print one JSON object (schema "tcpc.kernel.v1") instead of a table',
    section: "options",
  },
  {
    name: "root",
    type: "string",
    value: "DIR",
    help: "read the parameters from DIR, laid out like /proc/sys/net (e.g. a test fixture)",
    doc: "read the parameters from DIR, laid out like `/proc/sys/net` (a test fixture, " +
      "another machine's values), instead of the running kernel's",
    section: "options",
  },
  { ...HELP_FLAG, section: "options" },
];

/**
 * Usage text of `tcpc kernel`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { kernelHelp } from "./kernel.ts";
 * console.log(kernelHelp());
 * ```
 */
export function kernelHelp(): string {
  return helpText({
    usage: "Usage: tcpc kernel [--json] [--root DIR]",
    summary: `Shows the Linux kernel's TCP limits (tcp(7)) and what they mean for a
connection: how long connect() waits for a silent peer, when a stalled
connection is killed, when keepalive notices a dead peer, how many ephemeral
ports there are, and the socket buffer sizes.

Each value says where it came from:
  proc     read from /proc/sys/net (needs --allow-all under Deno)
  sysctl   from running "sysctl" (allowed by the default permission set)
  default  the stock Linux default, assumed: a note says why`,
    table: KERNEL_TABLE,
  });
}

/**
 * Runs `tcpc kernel`: reads the parameters, writes the table (or JSON) with
 * `ctx.out`, and resolves to exit code 0. Bad flags throw a
 * {@linkcode UsageError}. `--root DIR` reads a copy of /proc/sys/net instead.
 *
 * @example Run it from a dispatcher
 * ```ts
 * import { runKernel } from "./kernel.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const code = await runKernel(["--json"], ctx);
 * ```
 */
export async function runKernel(argv: string[], ctx: CommandContext): Promise<number> {
  const args = parseCommandLine(argv, {
    command: "kernel",
    options: parseConfig(KERNEL_TABLE),
  });
  if (boolFlag(args, "help")) {
    for (const line of kernelHelp().split("\n")) ctx.out(line);
    return 0;
  }
  const extra = args.positionals[0];
  if (extra !== undefined) throw new UsageError(`kernel: unexpected argument ${quoteValue(extra)}`);
  const root = stringFlag(args, "root");
  if (root === "") throw new UsageError(`kernel: invalid value "" for --root: must be a directory`);

  const reading = await readKernelParams({
    signal: ctx.signal,
    ...(root !== undefined ? { root: root.replace(/\/+$/, "") || "/" } : {}),
  });
  if (boolFlag(args, "json")) {
    ctx.out(renderKernelJson(reading));
    // The JSON carries the notes; say it once for people too when values are assumed.
    const assumed = Object.values(reading.params).filter((p) => p.source === "default").length;
    if (assumed > 0) ctx.err(`kernel: ${assumed} value(s) assumed: see "notes" in the JSON`);
  } else {
    for (const line of renderKernelTable(reading)) ctx.out(line);
  }
  return 0;
}

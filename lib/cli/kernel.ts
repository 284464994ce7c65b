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

/**
 * Usage text of `tcpc kernel`.
 *
 * @example Print it
 * ```ts
 * import { KERNEL_HELP } from "./kernel.ts";
 * console.log(KERNEL_HELP);
 * ```
 */
export const KERNEL_HELP = `Usage: tcpc kernel [--json]

Shows the Linux kernel's TCP limits (tcp(7)) and what they mean for a
connection: how long connect() waits for a silent peer, when a stalled
connection is killed, when keepalive notices a dead peer, how many ephemeral
ports there are, and the socket buffer sizes.

Each value says where it came from:
  proc     read from /proc/sys/net (needs --allow-all under Deno)
  sysctl   from running "sysctl" (allowed by the default permission set)
  default  the stock Linux default, assumed: a note says why

Options:
  --json      print one JSON object (schema "tcpc.kernel.v1") instead of a table
  -h, --help  show this help`;

/**
 * Runs `tcpc kernel`: reads the parameters, writes the table (or JSON) with
 * `ctx.out`, and resolves to exit code 0. Bad flags throw a
 * {@linkcode UsageError}. `--root DIR` (undocumented) reads a fixture tree.
 *
 * @example Run it from a dispatcher
 * ```ts
 * import { runKernel } from "./kernel.ts";
 * const code = await runKernel(["--json"], {
 *   signal: new AbortController().signal,
 *   stdin: { read: () => Promise.resolve(null) },
 *   stdout: { write: (data) => Promise.resolve(data.length) },
 *   out: (line) => console.log(line),
 *   err: (line) => console.error(line),
 *   stderrIsTerminal: false,
 *   setVerbosity: () => Promise.resolve(),
 * });
 * ```
 */
export async function runKernel(argv: string[], ctx: CommandContext): Promise<number> {
  const args = parseCommandLine(argv, {
    command: "kernel",
    options: {
      json: { type: "boolean" },
      root: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (boolFlag(args, "help")) {
    for (const line of KERNEL_HELP.split("\n")) ctx.out(line);
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

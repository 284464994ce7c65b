/**
 * `tcpc check` next to the real Nagios `check_tcp` (Debian
 * monitoring-plugins-basic): each run's exit code and its one line.
 *
 * @module
 */

import { runCheck } from "../../lib/cli/check.ts";
import { collectingContext } from "./context.ts";
import { outputWithin } from "./cli.ts";

/** The real check_tcp. */
export const CHECK_TCP = "/usr/lib/nagios/plugins/check_tcp";

/** An exit code and the output line(s). */
export interface CheckRun {
  /** Exit code (Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). */
  code: number;
  /** The output, lines joined by newlines, without a trailing newline. */
  line: string;
}

/**
 * Runs the real check_tcp: its exit code and its one line.
 *
 * @example An open port
 * ```ts
 * const real = await checkTcp(["-H", "127.0.0.1", "-p", "6379"]);
 * ```
 */
export async function checkTcp(args: string[]): Promise<CheckRun> {
  const child = new Deno.Command(CHECK_TCP, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const { code, stdout } = await outputWithin(child, 60_000);
  return { code, line: new TextDecoder().decode(stdout).trimEnd() };
}

/**
 * Runs tcpc check in this process: its exit code and its lines.
 *
 * @example An open port
 * ```ts
 * const mine = await tcpcCheck(["127.0.0.1", "6379"]);
 * ```
 */
export async function tcpcCheck(args: string[], signal?: AbortSignal): Promise<CheckRun> {
  const { ctx, out } = collectingContext(signal);
  const code = await runCheck(args, ctx);
  return { code, line: out.join("\n") };
}

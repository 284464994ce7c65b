/**
 * A CommandContext for running a command in-process: no stdin, stdout data
 * discarded, and every `out`/`err` line collected.
 *
 * @module
 */

import type { CommandContext } from "../../lib/cli/context.ts";

/** The context and the lines it collected. */
export interface CollectingContext {
  /** Pass this to a command. */
  ctx: CommandContext;
  /** Lines the command wrote with `ctx.out`. */
  out: string[];
  /** Lines the command wrote with `ctx.err`. */
  err: string[];
}

/** Builds a context that collects lines; `signal` defaults to one never aborted. */
export function collectingContext(signal?: AbortSignal): CollectingContext {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    signal: signal ?? new AbortController().signal,
    stdin: { read: () => Promise.resolve(null) },
    stdout: {
      write: (data) => Promise.resolve(data.length),
      flush: () => Promise.resolve(),
      pending: () => 0,
    },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    stderrIsTerminal: false,
    setVerbosity: () => Promise.resolve(),
  };
  return { ctx, out, err };
}

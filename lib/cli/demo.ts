/**
 * `tcpc demo`: the main job on an embedded default. Starts the built-in echo
 * server on a free loopback port, runs a real session against it, and shows
 * what came back and the per-phase timings.
 *
 * @module
 */

import { dial } from "../net/dial.ts";
import { runSession } from "../net/session.ts";
import { serve } from "../net/server.ts";
import { escapeBytes } from "../report/safe_text.ts";
import type { CommandContext } from "./context.ts";
import { formatDuration } from "../report/duration.ts";
import { boolFlag, parseCommandLine } from "./args.ts";
import { type FlagTable, HELP_FLAG, helpText, parseConfig } from "./flags.ts";
import { quoteValue } from "./quote.ts";
import { UsageError } from "../errors.ts";

/**
 * The flags of `tcpc demo`: only `-h/--help`.
 *
 * @example
 * ```ts
 * import { DEMO_TABLE } from "./demo.ts";
 * console.log(DEMO_TABLE.length); // 1
 * ```
 */
export const DEMO_TABLE: FlagTable = [{ ...HELP_FLAG, section: "options" }];

/**
 * Usage text of `tcpc demo`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { demoHelp } from "./demo.ts";
 * console.log(demoHelp().split("\n")[0]);
 * ```
 */
export function demoHelp(): string {
  return helpText({
    usage: "Usage: tcpc demo",
    summary: `Starts the built-in echo server on a free loopback port, runs a real session
against it, and shows what came back and the per-phase timings.`,
    table: DEMO_TABLE,
  });
}

/**
 * Runs the demo and returns exit code 0 (or throws what failed).
 *
 * @example
 * ```ts
 * import { runDemo } from "./demo.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * await runDemo([], ctx);
 * ```
 */
export async function runDemo(argv: string[], ctx: CommandContext): Promise<number> {
  // No options but --help: reject anything else, before a socket opens.
  const args = parseCommandLine(argv, { options: parseConfig(DEMO_TABLE), command: "tcpc demo" });
  if (boolFlag(args, "help")) {
    ctx.out(demoHelp());
    return 0;
  }
  const extra = args.positionals[0];
  if (extra !== undefined) throw new UsageError(`demo: unexpected argument ${quoteValue(extra)}`);
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  let port = 0;
  const server = serve(0, { signal, onListen: (addr) => port = addr.port });
  try {
    ctx.out(`tcpc demo: built-in echo server on 127.0.0.1:${port}`);
    const message = new TextEncoder().encode("data1\ndata2\n");
    const started = performance.now();
    const conn = await dial("127.0.0.1", port, { connectTimeoutMs: 2000, signal });
    const { resolveMs, connectMs } = conn.facts.timings;
    const received: Uint8Array[] = [];
    const result = await runSession(conn, {
      input: message,
      output: (chunk) => void received.push(chunk.slice()),
      idleTimeoutMs: 2000,
      signal,
    });
    const total = performance.now() - started;
    for (const chunk of received) ctx.out(`recv: "${escapeBytes(chunk)}"`);
    ctx.out(
      `connected ${conn.localAddress} -> ${conn.remoteAddress}, closed by ${result.close}`,
    );
    ctx.out(`sent ${result.bytesSent} bytes, received ${result.bytesReceived} bytes`);
    ctx.out(
      `timings: resolve ${formatDuration(resolveMs ?? 0)}, connect ${
        formatDuration(connectMs ?? 0)
      }, ` +
        `first byte ${formatDuration(result.firstByteMs ?? 0)}, total ${formatDuration(total)}`,
    );
    if (result.error) throw result.error;
    return 0;
  } finally {
    stop.abort();
    await server;
  }
}

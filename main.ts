/**
 * tcpc: a TCP client for Linux servers. This file is the only place that reads
 * `Deno.args`, writes to the console for people, and calls `Deno.exit`: it
 * parses the command, runs it from `lib/`, and maps the error that ended the
 * run to its exit code (lib/errors.ts).
 *
 * @module
 */

import { EXIT_CODES, exitCodeFor, Interrupted, UsageError } from "./lib/errors.ts";
import { setupLog } from "./lib/log.ts";
import type { CommandContext } from "./lib/cli/context.ts";
import { CONNECT_TABLE, runConnect } from "./lib/cli/connect.ts";
import { helpFlagLines } from "./lib/cli/flags.ts";
import { exitCodesHelp } from "./lib/cli/exit_help.ts";
import { runServe } from "./lib/cli/serve.ts";
import { runDemo } from "./lib/cli/demo.ts";
import { runKernel } from "./lib/cli/kernel.ts";
import { runProbe } from "./lib/cli/probe.ts";
import { runPing } from "./lib/cli/ping.ts";
import { runEcho } from "./lib/cli/echo.ts";
import { escapeLine, escapeText } from "./lib/report/safe_text.ts";
import { stdinReader, stdoutWriter } from "./lib/net/stdio.ts";

const VERSION = "0.1.0";
/** After a deadline ended the run, how long buffered output may still take to drain. */
const STDOUT_GRACE_MS = 1000;

const HELP = `tcpc ${VERSION}: a TCP client with honest deadlines

Usage:
  tcpc HOST PORT [options]          talk to a TCP service (stdin -> socket -> stdout)
  tcpc connect HOST PORT [options]  the same
  tcpc serve [HOST] PORT [--mode echo|discard|chargen]
                                    a small built-in server
  tcpc echo HOST PORT [options]     verified round trips and load over many connections
  tcpc probe TARGET... [options]    many ports at once: open, closed, timeout...
  tcpc ping HOST PORT [-n N]        repeated connects with min/avg/max/mdev, like tcping
  tcpc kernel [--json]              the kernel's TCP limits, explained
  tcpc demo                         a session against the built-in echo server
  tcpc --version

Run "tcpc connect --help" (or any command with --help) for its options.

${helpFlagLines(CONNECT_TABLE).join("\n")}

${exitCodesHelp()}`;

type Command = (argv: string[], ctx: CommandContext) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  connect: runConnect,
  serve: runServe,
  kernel: runKernel,
  demo: runDemo,
  probe: runProbe,
  ping: runPing,
  echo: runEcho,
};

const encoder = new TextEncoder();

/** stdout is gone (e.g. `| head -c 1`): end quietly. */
class StdoutClosed extends Error {}

function writeLine(stream: typeof Deno.stdout | typeof Deno.stderr, line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

function guardStdout<T>(write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (err instanceof Deno.errors.BrokenPipe) throw new StdoutClosed();
    throw err;
  }
}

function errLine(line: string): void {
  try {
    writeLine(Deno.stderr, line);
  } catch { /* stderr is gone: nothing left to tell */ }
}

async function main(argv: string[]): Promise<number> {
  const root = new AbortController();
  const onSignal = (name: "SIGINT" | "SIGTERM") => () => {
    if (root.signal.aborted) {
      Deno.exit(EXIT_CODES[name === "SIGINT" ? "interrupted" : "terminated"]);
    }
    root.abort(new Interrupted(name));
  };
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") } as const;
  Deno.addSignalListener("SIGINT", handlers.SIGINT);
  Deno.addSignalListener("SIGTERM", handlers.SIGTERM);
  // Fast stdio that never stalls the loop (lib/net/stdio.ts); stdout may hold
  // bytes until flushed below.
  const stdout = stdoutWriter();
  const guardAsync = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) throw new StdoutClosed();
      throw err;
    }
  };
  const flushStdout = (signal: AbortSignal = root.signal) => guardAsync(() => stdout.flush(signal));
  const ctx: CommandContext = {
    signal: root.signal,
    stdin: stdinReader(),
    stdout: { write: (data) => guardAsync(() => stdout.write(data)) },
    // Result lines (tables, JSON) may carry peer bytes: no raw control reaches the terminal.
    out: (line) => guardStdout(() => writeLine(Deno.stdout, escapeLine(line))),
    err: errLine,
    stderrIsTerminal: Deno.stderr.isTerminal(),
    setVerbosity: (level) => setupLog({ verbosity: level, write: errLine }),
  };
  try {
    await setupLog({ verbosity: 0, write: errLine });
    const [first, ...rest] = argv;
    if (first === undefined || first === "-h" || first === "--help" || first === "help") {
      if (first === undefined) throw new UsageError("missing HOST and PORT (see tcpc --help)");
      ctx.out(HELP);
      return 0;
    }
    if (first === "--version" || first === "-V") {
      ctx.out(`tcpc ${VERSION}`);
      return 0;
    }
    const command = COMMANDS[first];
    const code = command ? await command(rest, ctx) : await runConnect(argv, ctx);
    await flushStdout();
    return code;
  } catch (err) {
    const code = exitCodeFor(err);
    // What arrived before the failure still goes out. After a deadline, stdout
    // may be what stalled (lib/net/stdio.ts): wait for it at most one second more.
    const grace = code === EXIT_CODES.timeout
      ? AbortSignal.any([root.signal, AbortSignal.timeout(STDOUT_GRACE_MS)])
      : root.signal;
    await flushStdout(grace).catch(() => {});
    if (err instanceof StdoutClosed) return 0;
    const message = err instanceof Error ? err.message : String(err);
    const line = escapeText(message, { keepBackslash: true });
    errLine(`tcpc: ${line}`);
    return code;
  } finally {
    Deno.removeSignalListener("SIGINT", handlers.SIGINT);
    Deno.removeSignalListener("SIGTERM", handlers.SIGTERM);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}

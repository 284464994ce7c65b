/**
 * tcpc: a TCP client for Linux servers. This file is the only place that reads
 * `Deno.args`, writes to the console for people, and calls `Deno.exit`: it
 * parses the command, runs it from `lib/`, and maps the error that ended the
 * run to its exit code (lib/errors.ts).
 *
 * @module
 */

import { EXIT_CODES, exitCodeFor, Interrupted, NetError, UsageError } from "./lib/errors.ts";
import { setupLog } from "./lib/log.ts";
import type { CommandContext } from "./lib/cli/context.ts";
import { escapeLine, escapeText } from "./lib/report/safe_text.ts";
import {
  bufferedWriter,
  type FlushableWriter,
  stdinReader,
  stdoutWriter,
} from "./lib/net/stdio.ts";

const VERSION = "0.1.0";
/** After a deadline ended the run, how long buffered output may still take to drain. */
const STDOUT_GRACE_MS = 1000;

/** The top-level help; it loads the connect command's flag table, so only `--help` pays for it. */
async function help(): Promise<string> {
  const [{ CONNECT_TABLE }, { helpFlagLines }, { exitCodesHelp }] = await Promise.all([
    load<typeof import("./lib/cli/connect.ts")>("./lib/cli/connect.ts"),
    load<typeof import("./lib/cli/flags.ts")>("./lib/cli/flags.ts"),
    load<typeof import("./lib/cli/exit_help.ts")>("./lib/cli/exit_help.ts"),
  ]);
  return `tcpc ${VERSION}: a TCP client with honest deadlines

Usage:
  tcpc HOST PORT [options]          talk to a TCP service (stdin -> socket -> stdout)
  tcpc connect HOST PORT [options]  the same
  tcpc listen [HOST] PORT [options] wait for one client and bridge stdin/stdout (nc -l)
  tcpc serve [HOST] PORT [--mode echo|discard|chargen]
                                    a small built-in server
  tcpc echo HOST PORT [options]     verified round trips and load over many connections
  tcpc probe TARGET... [options]    many ports at once: open, closed, timeout...
  tcpc ping HOST PORT [-n N]        repeated connects with min/avg/max/mdev, like tcping
  tcpc check HOST [PORT] [steps]    a Nagios/Icinga plugin with check_tcp's status line
  tcpc why HOST PORT [options]      layer by layer, why HOST:PORT cannot be reached
  tcpc kernel [--json]              the kernel's TCP limits, explained
  tcpc demo                         a session against the built-in echo server
  tcpc --version

Run "tcpc connect --help" (or any command with --help) for its options.

${helpFlagLines(CONNECT_TABLE).join("\n")}

${exitCodesHelp()}`;
}

type Command = (argv: string[], ctx: CommandContext) => Promise<number>;

/**
 * Imports a module of this program when it is needed. The specifier is a
 * variable on purpose: before main.ts runs, Deno reads and hashes every module
 * reachable by a literal `import("...")` too (80 files, ~4 ms of each
 * start-up, bench/RESULTS.md). `deno compile` includes these modules through
 * its `--include` flags (the `compile` task in deno.json). The price: under
 * `deno run` they need read access to lib/ (the `default` permission set has it).
 */
async function load<M>(path: string): Promise<M> {
  try {
    return await import(path);
  } catch (err) {
    // Such an import needs read access under `deno run` (the compiled binary
    // embeds the modules). Deno says so in a TypeError: make it exit 5 like
    // every other sandbox refusal, naming the grant that is enough.
    if (err instanceof TypeError && /Requires read access/.test(err.message)) {
      const lib = new URL("./lib", import.meta.url).pathname;
      throw new Deno.errors.NotCapable(
        `cannot load ${
          path.replace(/^\.\//, "")
        }: under deno run, tcpc reads a command's modules when it runs (add --allow-read=${lib})`,
      );
    }
    throw err;
  }
}

/**
 * Each command's modules load only when it runs: a static import of every
 * command cost each start-up ~40 ms (bench/RESULTS.md, issue 16).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  connect: () =>
    load<typeof import("./lib/cli/connect.ts")>("./lib/cli/connect.ts").then((m) => m.runConnect),
  serve: () =>
    load<typeof import("./lib/cli/serve.ts")>("./lib/cli/serve.ts").then((m) => m.runServe),
  listen: () =>
    load<typeof import("./lib/cli/listen.ts")>("./lib/cli/listen.ts").then((m) => m.runListen),
  kernel: () =>
    load<typeof import("./lib/cli/kernel.ts")>("./lib/cli/kernel.ts").then((m) => m.runKernel),
  demo: () => load<typeof import("./lib/cli/demo.ts")>("./lib/cli/demo.ts").then((m) => m.runDemo),
  probe: () =>
    load<typeof import("./lib/cli/probe.ts")>("./lib/cli/probe.ts").then((m) => m.runProbe),
  ping: () => load<typeof import("./lib/cli/ping.ts")>("./lib/cli/ping.ts").then((m) => m.runPing),
  echo: () => load<typeof import("./lib/cli/echo.ts")>("./lib/cli/echo.ts").then((m) => m.runEcho),
  check: () =>
    load<typeof import("./lib/cli/check.ts")>("./lib/cli/check.ts").then((m) => m.runCheck),
  why: () => load<typeof import("./lib/cli/why.ts")>("./lib/cli/why.ts").then((m) => m.runWhy),
};

const encoder = new TextEncoder();

/** stdout is gone (e.g. `| head -c 1`): end quietly. */
class StdoutClosed extends Error {}

/**
 * `deno task` forwards a terminal's Ctrl-C to the child a second time: only a
 * second signal this long after the first forces the exit (ms).
 */
const FORCE_EXIT_AFTER_MS = 1000;

/**
 * An ordered line writer over a writer that never blocks the event loop: a
 * stalled reader (a paused pager, `| (sleep 10; cat)`) holds the lines in
 * memory while deadlines and signals keep working.
 */
function lineWriter(sink: FlushableWriter) {
  let chain: Promise<unknown> = Promise.resolve();
  let failure: { error: unknown } | null = null;
  let pending = 0;
  return {
    line(text: string): void {
      const bytes = encoder.encode(text + "\n");
      pending += bytes.length;
      chain = chain.then(() => sink.write(bytes)).then(
        () => pending -= bytes.length,
        (error) => failure ??= { error },
      );
    },
    /** Waits for every line and byte to reach the stream, or until `signal` aborts. */
    async drain(signal: AbortSignal): Promise<boolean> {
      await untilAborted(chain, signal);
      if (failure !== null) throw failure.error;
      if (signal.aborted) return false;
      await sink.flush(signal);
      return !signal.aborted;
    },
    get pending(): number {
      return pending + sink.pending();
    },
  };
}

/** Resolves when `promise` settles or `signal` aborts, whichever comes first. */
async function untilAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort = () => {};
  const aborted = new Promise<void>((resolve) => onAbort = resolve);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.race([promise.catch(() => {}), aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

async function main(argv: string[]): Promise<number> {
  const root = new AbortController();
  let firstSignalAt = 0;
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const onSignal = (name: typeof signals[number]) => () => {
    if (root.signal.aborted) {
      if (performance.now() - firstSignalAt > FORCE_EXIT_AFTER_MS) {
        Deno.exit(exitCodeFor(new Interrupted(name)));
      }
      return;
    }
    firstSignalAt = performance.now();
    root.abort(new Interrupted(name));
  };
  const handlers = signals.map((name) => [name, onSignal(name)] as const);
  for (const [name, handler] of handlers) Deno.addSignalListener(name, handler);
  // Fast stdio that never stalls the loop (lib/net/stdio.ts).
  const stdout = stdoutWriter();
  const stderr = bufferedWriter({ write: (data) => Deno.stderr.write(data) });
  const outLines = lineWriter(stdout);
  const errLines = lineWriter(stderr);
  const guardAsync = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) throw new StdoutClosed();
      throw err;
    }
  };
  const errLine = (line: string) => errLines.line(line);
  const ctx: CommandContext = {
    signal: root.signal,
    stdin: stdinReader(),
    stdout: {
      write: (data) => guardAsync(() => stdout.write(data)),
      // Result lines share stdout: flushing waits for them too.
      flush: (signal) => guardAsync(() => outLines.drain(signal ?? root.signal)).then(() => {}),
      pending: () => outLines.pending,
    },
    // Result lines (tables, JSON) may carry peer bytes: no raw control reaches the terminal.
    out: (line) => outLines.line(escapeLine(line)),
    err: errLine,
    stderrIsTerminal: Deno.stderr.isTerminal(),
    setVerbosity: (level) => setupLog({ verbosity: level, write: errLine }),
  };
  let code: number;
  let failure: unknown = null;
  try {
    await setupLog({ verbosity: 0, write: errLine });
    code = await run(argv, ctx);
  } catch (err) {
    failure = err;
    code = exitCodeFor(err);
  }
  // What arrived before the end still goes out. After a deadline or a signal,
  // stdout may be what stalled: wait for it at most STDOUT_GRACE_MS more. A
  // signal during the wait ends it, and then decides the exit code.
  const outputCut = failure instanceof NetError && failure.op === "output";
  const stopped = root.signal.aborted;
  const grace = outputCut
    ? AbortSignal.timeout(0)
    : stopped
    ? AbortSignal.timeout(STDOUT_GRACE_MS)
    : code === EXIT_CODES.timeout
    ? AbortSignal.any([root.signal, AbortSignal.timeout(STDOUT_GRACE_MS)])
    : root.signal;
  let drained = true;
  try {
    drained = await outLines.drain(grace);
  } catch (err) {
    if (err instanceof Deno.errors.BrokenPipe || err instanceof StdoutClosed) {
      if (failure === null || failure instanceof StdoutClosed) failure = new StdoutClosed();
    }
  }
  if (failure instanceof StdoutClosed) {
    failure = null;
    code = 0;
  }
  const cutBytes = drained ? 0 : outLines.pending;
  if (cutBytes > 0 && !stopped && root.signal.aborted && failure === null) {
    // A signal came while only the output was left to write.
    failure = root.signal.reason;
    code = exitCodeFor(failure);
  }
  if (failure !== null) {
    const message = failure instanceof Error ? failure.message : String(failure);
    const cut = cutBytes === 0 || outputCut ? "" : ` (output cut: ${cutBytes} bytes not written)`;
    errLine(`tcpc: ${escapeText(message, { keepBackslash: true })}${cut}`);
  }
  // stderr too may be stalled: it gets the same bound, then the process ends.
  await errLines.drain(AbortSignal.timeout(STDOUT_GRACE_MS)).catch(() => {});
  for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
  return code;
}

/** Parses the command name and runs it. */
async function run(argv: string[], ctx: CommandContext): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    if (first === undefined) throw new UsageError("missing HOST and PORT (see tcpc --help)");
    ctx.out(await help());
    return 0;
  }
  if (first === "--version" || first === "-V") {
    ctx.out(`tcpc ${VERSION}`);
    return 0;
  }
  if (first === "-l") return await (await COMMANDS.listen!())(rest, ctx);
  const load = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  return load ? await (await load())(rest, ctx) : await (await COMMANDS.connect!())(argv, ctx);
}

/**
 * `tcpc --version` (or `-V`) answered before anything is set up: one
 * synchronous write, no signal listeners, writers or timers (start-up, issue
 * 16). False when the command line asks for something else, or when the write
 * failed before any byte went out: the full path then runs and decides. A
 * closed stdout (`| head -c 0`) ends quietly, as on the full path.
 */
function versionAnswered(argv: string[]): boolean {
  if (argv[0] !== "--version" && argv[0] !== "-V") return false;
  const bytes = encoder.encode(`tcpc ${VERSION}\n`);
  let written = 0;
  try {
    while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
  } catch (err) {
    if (err instanceof Deno.errors.BrokenPipe) return true;
    if (written === 0) return false;
  }
  return true;
}

if (import.meta.main) {
  Deno.exit(versionAnswered(Deno.args) ? 0 : await main(Deno.args));
}

/**
 * Logging: every diagnostic goes to one writer (stderr in the CLI) with a
 * `[tcpc (PID)] message` prefix, never to stdout, which carries data.
 *
 * At the default level (warnings and errors) a tiny built-in writer does the
 * work; LogTape is imported only when `-v`/`-vv` asks for info or debug lines.
 * Loading LogTape (an npm package) cost every start-up 10-20 ms, `tcpc -z`
 * included (bench/RESULTS.md, issue 16).
 *
 * @module
 */

import type { Logger, LogRecord } from "@logtape/logtape";

/** Options of {@linkcode setupLog}. */
export interface SetupLogOptions {
  /** 0: warnings and errors, 1 (`-v`): info, 2 (`-vv`): debug. @default {0} */
  verbosity?: number;
  /** Where a finished line goes (main.ts passes a stderr writer). */
  write: (line: string) => void;
}

/** What a part of tcpc logs through: one message string per call. */
export interface Log {
  /** A line for `-vv`. */
  debug(message: string): void;
  /** A line for `-v`. */
  info(message: string): void;
  /** A line always shown. */
  warn(message: string): void;
  /** A line always shown. */
  error(message: string): void;
}

type LogTape = typeof import("@logtape/logtape");

/** The current set-up: null until {@linkcode setupLog}, then the writer and, from `-v` on, LogTape. */
let current: { write: (line: string) => void; logtape: LogTape | null } | null = null;

function prefix(text: string): string {
  return `[tcpc (${Deno.pid})] ${text}`;
}

function render(record: LogRecord): string {
  // Parts are our `{message}` strings (String() keeps them as they are), or a
  // LogTape meta record's values (an Error, a sink).
  return prefix(record.message.map(String).join(""));
}

/**
 * Configures logging once for the process (again to change the level).
 *
 * @example Debug logs to stderr
 * ```ts
 * import { setupLog } from "./log.ts";
 * await setupLog({ verbosity: 2, write: (line) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")) });
 * ```
 */
export async function setupLog(options: SetupLogOptions): Promise<void> {
  const verbosity = Math.min(Math.max(options.verbosity ?? 0, 0), 2);
  if (verbosity === 0) {
    if (current?.logtape) await current.logtape.reset();
    current = { write: options.write, logtape: null };
    return;
  }
  // A string literal, so that `deno compile` includes the package.
  const logtape = await import("@logtape/logtape");
  await logtape.configure({
    reset: true,
    sinks: { stderr: (record: LogRecord) => options.write(render(record)) },
    loggers: [
      { category: ["tcpc"], lowestLevel: verbosity === 1 ? "info" : "debug", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["stderr"] },
    ],
  });
  current = { write: options.write, logtape };
}

/**
 * Removes the configuration (tests call it after {@linkcode setupLog}).
 *
 * @example
 * ```ts
 * import { teardownLog } from "./log.ts";
 * await teardownLog();
 * ```
 */
export async function teardownLog(): Promise<void> {
  if (current?.logtape) await current.logtape.reset();
  current = null;
}

/**
 * The logger of one part of tcpc, e.g. `log("dial")`. It looks up the set-up
 * at each call, so a logger made before {@linkcode setupLog} still follows it.
 *
 * @example
 * ```ts
 * import { log } from "./log.ts";
 * log("dial").debug("connect timeout: none");
 * ```
 */
export function log(part: string): Log {
  let logger: Logger | null = null;
  let loggerOf: LogTape | null = null;
  const viaLogTape = (): Logger | null => {
    const logtape = current?.logtape ?? null;
    if (logtape === null) return null;
    if (loggerOf !== logtape) {
      logger = logtape.getLogger(["tcpc", part]);
      loggerOf = logtape;
    }
    return logger;
  };
  // LogTape reads `{name}` in a message as a placeholder: our messages quote
  // peer bytes, so each goes in as the value of one placeholder, verbatim.
  const always = (message: string, level: "warn" | "error") => {
    const lt = viaLogTape();
    if (lt !== null) lt[level]("{message}", { message });
    else current?.write(prefix(message));
  };
  return {
    debug: (message) => viaLogTape()?.debug("{message}", { message }),
    info: (message) => viaLogTape()?.info("{message}", { message }),
    warn: (message) => always(message, "warn"),
    error: (message) => always(message, "error"),
  };
}

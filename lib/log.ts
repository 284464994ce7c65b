/**
 * LogTape set-up: every diagnostic goes to one writer (stderr in the CLI) with a
 * `[tcpc (PID)] message` prefix, never to stdout, which carries data.
 *
 * @module
 */

import { configure, getLogger, type Logger, type LogRecord, reset } from "@logtape/logtape";

/** Options of {@linkcode setupLog}. */
export interface SetupLogOptions {
  /** 0: warnings and errors, 1 (`-v`): info, 2 (`-vv`): debug. @default {0} */
  verbosity?: number;
  /** Where a finished line goes (main.ts passes a stderr writer). */
  write: (line: string) => void;
}

const LEVELS = ["warning", "info", "debug"] as const;

function render(record: LogRecord): string {
  const text = record.message.map((part) => typeof part === "string" ? part : String(part)).join(
    "",
  );
  return `[tcpc (${Deno.pid})] ${text}`;
}

/**
 * Configures LogTape once for the process.
 *
 * @example Debug logs to stderr
 * ```ts
 * import { setupLog } from "./log.ts";
 * await setupLog({ verbosity: 2, write: (line) => Deno.stderr.writeSync(new TextEncoder().encode(line + "\n")) });
 * ```
 */
export async function setupLog(options: SetupLogOptions): Promise<void> {
  const level = LEVELS[Math.min(Math.max(options.verbosity ?? 0, 0), 2)] ?? "warning";
  await configure({
    reset: true,
    sinks: { stderr: (record: LogRecord) => options.write(render(record)) },
    loggers: [
      { category: ["tcpc"], lowestLevel: level, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["stderr"] },
    ],
  });
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
  await reset();
}

/**
 * The logger of one part of tcpc, e.g. `log("dial")`.
 *
 * @example
 * ```ts
 * import { log } from "./log.ts";
 * log("dial").debug("connect timeout: none");
 * ```
 */
export function log(part: string): Logger {
  return getLogger(["tcpc", part]);
}

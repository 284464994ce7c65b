/**
 * What `main.ts` hands every command: the root signal and the process's streams.
 * Commands never touch `console`, `Deno.exit` or `Deno.args` themselves.
 *
 * @module
 */

import type { ByteReader, FlushableWriter } from "../stream.ts";

/**
 * The environment a command runs in.
 *
 * @example A context for a test that collects lines
 * ```ts
 * import type { CommandContext } from "./context.ts";
 * const lines: string[] = [];
 * const ctx: CommandContext = {
 *   signal: new AbortController().signal,
 *   stdin: { read: () => Promise.resolve(null) },
 *   stdout: {
 *     write: (data) => Promise.resolve(data.length),
 *     flush: () => Promise.resolve(),
 *     pending: () => 0,
 *   },
 *   out: (line) => lines.push(line),
 *   err: (line) => lines.push(line),
 *   stderrIsTerminal: false,
 *   setVerbosity: () => Promise.resolve(),
 * };
 * ```
 */
export interface CommandContext {
  /** Aborted on SIGINT/SIGTERM; its reason says which. */
  signal: AbortSignal;
  /** Standard input, for data to send. */
  stdin: ByteReader;
  /** Standard output, for data received; `flush` waits until it reached the reader. */
  stdout: FlushableWriter;
  /** Writes one line of results (a table row, a JSON record) to stdout. */
  out(line: string): void;
  /** Writes one line of diagnostics for people to stderr. */
  err(line: string): void;
  /** True when stderr is a terminal (progress lines only then). */
  stderrIsTerminal: boolean;
  /** Sets the log level: 0 warnings, 1 (`-v`) info, 2 (`-vv`) debug. */
  setVerbosity(level: number): Promise<void>;
}

/**
 * The "Exit codes:" line of `--help`, made from the one exit code table
 * (lib/errors.ts), so no command's help can forget a code.
 *
 * @module
 */

import { type ErrorKind, EXIT_CODES } from "../errors.ts";

/** What each kind means in a help line; the type makes a new kind need words here. */
const KIND_WORDS: Readonly<Record<ErrorKind | "ok", string>> = {
  ok: "ok",
  refused: "refused",
  reset: "reset",
  unreachable: "unreachable",
  closed: "closed early",
  io: "an I/O error",
  usage: "usage error",
  dns: "name resolution failed",
  timeout: "a timeout fired",
  denied: "denied by the permission sandbox",
  verify: "verification failed",
  tls: "TLS failed",
  proxy: "the proxy failed",
  interrupted: "SIGINT",
  hangup: "SIGHUP",
  terminated: "SIGTERM",
};

/** Help lines wrap before this width. */
const WIDTH = 80;

/** Options of {@linkcode exitCodesHelp}. */
export interface ExitCodesHelpOptions {
  /** What a code means for this command, replacing the generic words. @default {{}} */
  meanings?: Readonly<Record<number, string>>;
  /** Leave these codes out (e.g. ones the command cannot end with). @default {[]} */
  omit?: readonly number[];
}

/**
 * Every exit code with its meaning, as one wrapped paragraph:
 * `Exit codes: 0 ok; 1 refused, reset, ...; 2 usage error; ...`.
 *
 * @example ping's own words for 0 and 1
 * ```ts
 * import { exitCodesHelp } from "./exit_help.ts";
 * console.log(exitCodesHelp({
 *   meanings: { 0: "at least one attempt connected", 1: "none did" },
 * }));
 * ```
 */
export function exitCodesHelp(options: ExitCodesHelpOptions = {}): string {
  const byCode = new Map<number, string[]>();
  for (const [kind, code] of Object.entries(EXIT_CODES)) {
    byCode.set(code, [...byCode.get(code) ?? [], KIND_WORDS[kind as ErrorKind | "ok"]]);
  }
  const items: string[] = [];
  for (const [code, words] of [...byCode].sort(([a], [b]) => a - b)) {
    if (options.omit?.includes(code)) continue;
    // Every code in byCode has at least one word.
    const last = words.pop()!;
    const generic = words.length > 0 ? `${words.join(", ")} or ${last}` : last;
    items.push(`${code} ${options.meanings?.[code] ?? generic}`);
  }
  const lines: string[] = [];
  let line = "Exit codes:";
  // A code and the word after it stay on one line ("2 usage", not "2" alone).
  const words = items.join("; ").replace(/(^|; )(\d+) /g, "$1$2\u00a0").split(" ");
  for (const word of words) {
    if (line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line += ` ${word}`;
  }
  lines.push(line);
  return lines.join("\n").replaceAll("\u00a0", " ");
}

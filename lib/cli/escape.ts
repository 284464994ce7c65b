/**
 * Parsing of the escapes allowed in `--data`, `--message`, `--send` and
 * `--expect` text.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

const SIMPLE: Readonly<Record<string, number>> = {
  r: 0x0d,
  n: 0x0a,
  t: 0x09,
  "0": 0x00,
  "\\": 0x5c,
};

/**
 * Turns text with `\r \n \t \0 \\ \xHH` escapes into bytes (UTF-8 for the rest).
 * Any other backslash sequence throws a {@linkcode UsageError} naming the flag
 * and the bad escape.
 *
 * @example Build a redis inline command
 * ```ts
 * import { parseEscapes } from "./escape.ts";
 * console.log(parseEscapes("PING\\r\\n", "--data")); // Uint8Array(6) [80, 73, 78, 71, 13, 10]
 * ```
 */
export function parseEscapes(text: string, flag: string): Uint8Array {
  const out: number[] = [];
  const encoder = new TextEncoder();
  let plainStart = 0;
  const flushPlain = (end: number) => {
    if (end > plainStart) out.push(...encoder.encode(text.slice(plainStart, end)));
  };
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== "\\") continue;
    flushPlain(i);
    const next = text[i + 1];
    if (next === undefined) {
      throw new UsageError(`invalid escape in ${flag} "${text}": trailing backslash`);
    }
    const simple = SIMPLE[next];
    if (simple !== undefined) {
      out.push(simple);
      i += 1;
    } else if (next === "x") {
      const hex = text.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new UsageError(
          `invalid escape in ${flag} "${text}": \\x needs two hex digits, got "\\x${hex}"`,
        );
      }
      out.push(parseInt(hex, 16));
      i += 3;
    } else {
      throw new UsageError(`invalid escape in ${flag} "${text}": unknown "\\${next}"`);
    }
    plainStart = i + 1;
  }
  flushPlain(text.length);
  return new Uint8Array(out);
}

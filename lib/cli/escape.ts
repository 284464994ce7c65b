/**
 * Parsing of the escapes allowed in `--data`, `--message`, `--send` and
 * `--expect` text.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { quoteValue } from "./quote.ts";

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
  // One pass into a growing byte buffer: no argument spreading (which overflows
  // the stack near 128 KiB) and no per-byte array of numbers. UTF-8 needs at
  // most 3 bytes per UTF-16 unit, and an escape never makes more bytes than its
  // text, so 3 bytes per unit always fit.
  const out = new Uint8Array(text.length * 3);
  const encoder = new TextEncoder();
  let length = 0;
  let plainStart = 0;
  const flushPlain = (end: number) => {
    if (end > plainStart) {
      length += encoder.encodeInto(text.slice(plainStart, end), out.subarray(length)).written;
    }
  };
  for (let i = text.indexOf("\\"); i !== -1 && i < text.length; i = text.indexOf("\\", i + 1)) {
    flushPlain(i);
    const next = text[i + 1];
    if (next === undefined) {
      throw new UsageError(`invalid escape in ${flag} ${quoteValue(text)}: trailing backslash`);
    }
    const simple = SIMPLE[next];
    if (simple !== undefined) {
      out[length++] = simple;
      i += 1;
    } else if (next === "x") {
      const hex = text.slice(i + 2, i + 4);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new UsageError(
          `invalid escape in ${flag} ${
            quoteValue(text)
          }: \\x needs two hex digits, got "\\x${hex}"`,
        );
      }
      out[length++] = parseInt(hex, 16);
      i += 3;
    } else {
      throw new UsageError(`invalid escape in ${flag} ${quoteValue(text)}: unknown "\\${next}"`);
    }
    plainStart = i + 1;
  }
  flushPlain(text.length);
  return out.slice(0, length);
}

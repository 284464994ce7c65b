/**
 * Hex dump of traffic for `--hex`, in the `hexdump -C` layout.
 *
 * @module
 */

/** Options of {@linkcode hexDump}. */
export interface HexDumpOptions {
  /** Offset of the first byte in the stream. @default {0} */
  offset?: number;
  /** Prefix of every line, e.g. `> ` for sent and `< ` for received. @default {""} */
  prefix?: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Renders bytes as lines of 16: offset, hex bytes, and printable ASCII (every
 * other byte shows as `.`, so no control character reaches the terminal).
 *
 * @example
 * ```ts
 * import { hexDump } from "./hexdump.ts";
 * console.log(hexDump(new TextEncoder().encode("hi\n"), { prefix: "< " }));
 * // ["< 00000000  68 69 0a                                          |hi.|"]
 * ```
 */
export function hexDump(bytes: Uint8Array, options: HexDumpOptions = {}): string[] {
  const base = options.offset ?? 0;
  const prefix = options.prefix ?? "";
  const lines: string[] = [];
  for (let start = 0; start < bytes.length; start += 16) {
    const row = bytes.subarray(start, start + 16);
    let hex = "";
    let ascii = "";
    for (let i = 0; i < 16; i++) {
      const byte = row[i];
      hex += i === 8 ? " " : "";
      hex += byte === undefined ? "   " : `${HEX[byte]} `;
      if (byte !== undefined) {
        ascii += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : ".";
      }
    }
    const offset = (base + start).toString(16).padStart(8, "0");
    lines.push(`${prefix}${offset}  ${hex} |${ascii}|`);
  }
  return lines;
}

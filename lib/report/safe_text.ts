/**
 * Safe rendering of network bytes for terminals: a peer must never be able to
 * inject escape sequences into our diagnostics.
 *
 * @module
 */

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Options of {@linkcode escapeBytes}. */
export interface EscapeBytesOptions {
  /** Longest preview, in input bytes; longer input ends with `...`. @default {Infinity} */
  maxBytes?: number;
}

/**
 * Renders bytes as printable text: UTF-8 is decoded (invalid sequences become
 * U+FFFD), `\r \n \t \\` are escaped, and every other control character (C0,
 * DEL, C1, bidi overrides) becomes `\xHH` or `\u{HHHH}`.
 *
 * @example Neutralise a terminal escape
 * ```ts
 * import { escapeBytes } from "./safe_text.ts";
 * console.log(escapeBytes(new TextEncoder().encode("\x1b[2Jhi\n"))); // \x1b[2Jhi\n
 * ```
 */
export function escapeBytes(bytes: Uint8Array, options: EscapeBytesOptions = {}): string {
  const max = options.maxBytes ?? Infinity;
  const cut = bytes.length > max;
  return escapeText(decoder.decode(cut ? bytes.subarray(0, max) : bytes)) + (cut ? "..." : "");
}

/**
 * Escapes control characters in a string (see {@linkcode escapeBytes}).
 *
 * @example
 * ```ts
 * import { escapeText } from "./safe_text.ts";
 * console.log(escapeText("a\u009bb")); // a\x9bb
 * ```
 */
export function escapeText(text: string): string {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) {
      out += `\\x${code.toString(16).padStart(2, "0")}`;
    } else if (
      (code >= 0x200e && code <= 0x200f) || (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069)
    ) {
      out += `\\u{${code.toString(16)}}`;
    } else out += ch;
  }
  return out;
}

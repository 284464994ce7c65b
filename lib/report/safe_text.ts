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
 * DEL, C1) becomes `\xHH`, every format character (Cf: bidi controls, zero
 * width, BOM) and line or paragraph separator `\u{HHHH}`.
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
 * Invisible characters a terminal or editor may act on: Unicode format
 * characters (Cf: bidi controls such as U+061C and U+202E, zero-width U+200B,
 * BOM U+FEFF, soft hyphen) and the line and paragraph separators (Zl U+2028,
 * Zp U+2029), which some terminals and most JSON consumers treat as newlines.
 */
// (The first of them is U+00AD: code points below it are checked by the caller.)
const FORMAT_OR_SEPARATOR = /^[\p{Cf}\p{Zl}\p{Zp}]$/u;

/** Options of {@linkcode escapeText}. */
export interface EscapeTextOptions {
  /**
   * Leave `\\` as it is (for our own messages, which quote what the user typed);
   * network bytes keep the default so that the output is unambiguous.
   * @default {false}
   */
  keepBackslash?: boolean;
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
export function escapeText(text: string, options: EscapeTextOptions = {}): string {
  // Printable ASCII other than the backslash is kept as it is: skip the loop
  // (one error message per closed port of a sweep goes through here).
  if (!NEEDS_ESCAPE.test(text)) return text;
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!; // a string iterator yields no empty char
    if (ch === "\\") out += options.keepBackslash ? ch : "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) {
      out += `\\x${code.toString(16).padStart(2, "0")}`;
    } else if (code >= 0xad && FORMAT_OR_SEPARATOR.test(ch)) {
      out += `\\u{${code.toString(16)}}`;
    } else out += ch;
  }
  return out;
}

/** Any character {@linkcode escapeText} may change: all but printable ASCII, and the backslash. */
const NEEDS_ESCAPE = /[^\x20-\x5b\x5d-\x7e]/;

/** Characters a terminal may act on, other than newline and tab (see {@linkcode escapeLine}). */
// deno-lint-ignore no-control-regex
const LINE_HAZARDS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * Makes a line of results safe for a terminal: every control character other
 * than newline and tab (C0, DEL, C1, format characters, line and paragraph
 * separators) becomes a `\uHHHH`
 * escape. Inside a JSON string that escape is the same character, so JSON
 * output stays valid and means the same (`JSON.stringify` leaves DEL, C1 and
 * bidi controls raw).
 *
 * @example Neutralise a C1 CSI inside JSON
 * ```ts
 * import { escapeLine } from "./safe_text.ts";
 * console.log(escapeLine(JSON.stringify({ text: "\u009b2J" }))); // {"text":"\u009b2J"}
 * ```
 */
export function escapeLine(line: string): string {
  // One escape per UTF-16 unit: an astral format character (U+E0001 language
  // tag) becomes its surrogate pair, which JSON reads back as the same character.
  return line.replace(
    LINE_HAZARDS,
    (ch) =>
      Array.from(
        { length: ch.length },
        (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`,
      ).join(""),
  );
}

/**
 * Quoting of user-given values in usage messages.
 *
 * @module
 */

/** Longest value, in characters, a message quotes in full. */
export const QUOTE_MAX_CHARS = 80;

/** Options of {@linkcode quoteValue}. */
export interface QuoteValueOptions {
  /** Longest value quoted in full, in UTF-16 units. @default {80} */
  maxChars?: number;
  /** The quotation mark. @default {'"'} */
  mark?: string;
}

/**
 * Quotes a value for a one-line message: `"value"`, or for a long value its
 * start, an ellipsis and the full length (`"aaaa..." (100000 characters)`), so
 * that a 100 kB argument does not flood the terminal.
 *
 * @example Quote a long value
 * ```ts
 * import { quoteValue } from "./quote.ts";
 * console.log(quoteValue("x".repeat(100), { maxChars: 4 })); // "xxxx..." (100 characters)
 * ```
 */
export function quoteValue(value: string, options: QuoteValueOptions = {}): string {
  const max = options.maxChars ?? QUOTE_MAX_CHARS;
  const mark = options.mark ?? '"';
  if (value.length <= max) return `${mark}${value}${mark}`;
  // Do not cut a surrogate pair in half.
  let end = max;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${mark}${value.slice(0, end)}...${mark} (${value.length} characters)`;
}

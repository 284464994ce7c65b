import assert from "node:assert/strict";
import { escapeBytes, escapeLine, escapeText } from "../lib/report/safe_text.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
const utf8 = (text: string) => new TextEncoder().encode(text);

/**
 * True when the text holds no C0/C1 control, DEL, bidi control, zero-width
 * character, BOM or line/paragraph separator (written out, not the module's
 * own class).
 */
function isInert(text: string): boolean {
  return !// deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u
    .test(text);
}

Deno.test("escapeText() escapes the usual controls and backslash", () => {
  const table: [string, string][] = [
    ["plain text", "plain text"],
    ["a\nb\r\tc", "a\\nb\\r\\tc"],
    ["back\\slash", "back\\\\slash"],
    ["\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"],
    ["é ü 日本 😀", "é ü 日本 😀"],
  ];
  for (const [text, want] of table) assert.equal(escapeText(text), want, JSON.stringify(text));
});

Deno.test("escapeText() neutralises terminal escapes (ESC, CSI, OSC)", () => {
  const attacks = [
    "\x1b[2J\x1b[H",
    "\x1b]0;pwned\x07",
    "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
    "\u009b31m",
    "\u009d0;title\u009c",
    "\x1bP+q\x1b\\",
  ];
  for (const attack of attacks) {
    const safe = escapeText(attack);
    assert.ok(isInert(safe), JSON.stringify(safe));
  }
  assert.equal(escapeText("\x1b[31mred"), "\\x1b[31mred");
  assert.equal(escapeText("a\u009bb"), "a\\x9bb");
});

Deno.test("escapeText() neutralises bidi overrides (Trojan Source)", () => {
  const table: [string, string][] = [
    ["\u202e", "\\u{202e}"],
    ["\u202a\u202b\u202c\u202d", "\\u{202a}\\u{202b}\\u{202c}\\u{202d}"],
    ["\u2066\u2067\u2068\u2069", "\\u{2066}\\u{2067}\\u{2068}\\u{2069}"],
    ["\u200e\u200f", "\\u{200e}\\u{200f}"],
  ];
  for (const [text, want] of table) assert.equal(escapeText(text), want);
  assert.ok(isInert(escapeText("admin\u202e\u2066 // check\u2069\u2066")));
});

Deno.test("escapeBytes() decodes UTF-8, replaces invalid bytes and escapes controls", () => {
  assert.equal(escapeBytes(utf8("hi\n")), "hi\\n");
  assert.equal(escapeBytes(utf8("\x1b[2Jhi")), "\\x1b[2Jhi");
  assert.equal(escapeBytes(bytes(0xff, 0x41)), "\uFFFDA");
  // A raw C1 byte is invalid UTF-8: it must not reach the terminal as 0x9b.
  assert.equal(escapeBytes(bytes(0x9b, 0x33, 0x31, 0x6d)), "\uFFFD31m");
  assert.equal(escapeBytes(utf8("\u009b")), "\\x9b");
  const random = crypto.getRandomValues(new Uint8Array(4096));
  assert.ok(isInert(escapeBytes(random)));
});

Deno.test("escapeBytes() cuts the preview at maxBytes and says so", () => {
  assert.equal(escapeBytes(utf8("abcdef"), { maxBytes: 3 }), "abc...");
  assert.equal(escapeBytes(utf8("abc"), { maxBytes: 3 }), "abc");
  assert.equal(escapeBytes(utf8("a\nb"), { maxBytes: 2 }), "a\\n...");
  assert.equal(escapeBytes(new Uint8Array(0)), "");
});

Deno.test("escapeText() escapes format characters and line/paragraph separators", () => {
  const table: [string, string][] = [
    ["\u061c", "\\u{61c}"], // Arabic letter mark (Cf)
    ["a\u2028b", "a\\u{2028}b"], // line separator (Zl)
    ["a\u2029b", "a\\u{2029}b"], // paragraph separator (Zp)
    ["x\u200by", "x\\u{200b}y"], // zero width space (Cf)
    ["\ufeffhi", "\\u{feff}hi"], // BOM (Cf)
    ["\u00ad", "\\u{ad}"], // soft hyphen (Cf)
    ["\u{e0001}", "\\u{e0001}"], // language tag (Cf, astral)
  ];
  for (const [text, want] of table) assert.equal(escapeText(text), want, JSON.stringify(text));
  assert.equal(escapeBytes(utf8("\u2028\ufeff")), "\\u{2028}\\u{feff}");
  assert.equal(escapeText("é 日本 😀 \u00a0"), "é 日本 😀 \u00a0");
});

Deno.test("escapeLine() escapes format characters and separators so JSON reads them back", () => {
  const record = { text: "a\u061c\u2028\u2029\u200b\ufeff\u{e0001}z" };
  const line = escapeLine(JSON.stringify(record));
  assert.equal(
    line,
    '{"text":"a\\u061c\\u2028\\u2029\\u200b\\ufeff\\udb40\\udc01z"}',
  );
  assert.ok(isInert(line));
  assert.deepEqual(JSON.parse(line), record);
});

Deno.test("escapeText() with keepBackslash leaves backslashes as they are and still escapes controls", () => {
  assert.equal(
    escapeText('invalid --sni "a\\b"\n\x1b[2J', { keepBackslash: true }),
    'invalid --sni "a\\b"\\n\\x1b[2J',
  );
});

Deno.test("escapeText() returns printable ASCII as it is, and still escapes around it", () => {
  const ascii = Array.from({ length: 0x5f }, (_, i) => String.fromCharCode(0x20 + i)).join("");
  assert.equal(escapeText(ascii.replace("\\", "")), ascii.replace("\\", ""));
  assert.equal(escapeText(ascii, { keepBackslash: true }), ascii);
  assert.equal(escapeText(`${ascii}\x1b`), `${ascii.replace("\\", "\\\\")}\\x1b`);
  assert.equal(
    escapeText('connect "127.0.0.1:22": connection refused'),
    'connect "127.0.0.1:22": connection refused',
  );
});

import assert from "node:assert/strict";
import { escapeBytes, escapeText } from "../lib/report/safe_text.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
const utf8 = (text: string) => new TextEncoder().encode(text);

/** True when the text holds no C0/C1 control, DEL or bidi control character. */
function isInert(text: string): boolean {
  // deno-lint-ignore no-control-regex
  return !/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/u.test(text);
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

import assert from "node:assert/strict";
import { parseEscapes } from "../lib/cli/escape.ts";
import { UsageError } from "../lib/errors.ts";

Deno.test("parseEscapes() turns escapes into bytes and the rest into UTF-8", () => {
  const table: [string, number[]][] = [
    ["", []],
    ["abc", [0x61, 0x62, 0x63]],
    ["PING\\r\\n", [0x50, 0x49, 0x4e, 0x47, 0x0d, 0x0a]],
    ["a\\tb", [0x61, 0x09, 0x62]],
    ["\\\\", [0x5c]],
    ["\\\\n", [0x5c, 0x6e]],
    ["\\0", [0x00]],
    ["\\x00\\xff\\xAb", [0x00, 0xff, 0xab]],
    ["\\x414", [0x41, 0x34]],
    ["é\\n", [0xc3, 0xa9, 0x0a]],
    ["😀", [0xf0, 0x9f, 0x98, 0x80]],
  ];
  for (const [text, bytes] of table) {
    assert.deepEqual([...parseEscapes(text, "--data")], bytes, text);
  }
});

Deno.test("parseEscapes() rejects unknown escapes with one line naming flag and text", () => {
  const table: [string, string][] = [
    ["abc\\", "trailing backslash"],
    ["\\q", `unknown "\\q"`],
    ["\\x4", `"\\x4"`],
    ["\\xzz", `"\\xzz"`],
    ["\\x", `"\\x"`],
    ["\\u0041", `unknown "\\u"`],
  ];
  for (const [text, why] of table) {
    assert.throws(() => parseEscapes(text, "--data"), (err: unknown) => {
      assert.ok(err instanceof UsageError, text);
      assert.ok(err.message.startsWith(`invalid escape in --data "${text}"`), err.message);
      assert.ok(err.message.includes(why), err.message);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("parseEscapes() handles megabytes of text and escapes without overflowing", () => {
  // Before: `push(...spread)` overflowed the stack near 128 KiB.
  const mib = 1024 * 1024;
  const plain = parseEscapes("a".repeat(mib), "--data");
  assert.equal(plain.length, mib);
  assert.ok(plain.every((b) => b === 0x61));
  const escaped = parseEscapes("\\x41".repeat(mib / 4) + "é\\n", "--send");
  assert.equal(escaped.length, mib / 4 + 3);
  assert.equal(escaped[0], 0x41);
  assert.equal(escaped[mib / 4 - 1], 0x41);
  assert.deepEqual([...escaped.subarray(mib / 4)], [0xc3, 0xa9, 0x0a]);
});

Deno.test("parseEscapes() quotes at most 80 characters of a long bad value", () => {
  const text = "b".repeat(100_000) + "\\q";
  assert.throws(() => parseEscapes(text, "--data"), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.equal(
      err.message,
      `invalid escape in --data "${"b".repeat(80)}..." (100002 characters): unknown "\\q"`,
    );
    return true;
  });
});

import assert from "node:assert/strict";
import { quoteValue } from "../lib/cli/quote.ts";

Deno.test("quoteValue() quotes short values in full and cuts long ones with their length", () => {
  const table: [string, string][] = [
    ["", `""`],
    ["abc", `"abc"`],
    ["x".repeat(80), `"${"x".repeat(80)}"`],
    ["x".repeat(81), `"${"x".repeat(80)}..." (81 characters)`],
    ["y".repeat(100_000), `"${"y".repeat(80)}..." (100000 characters)`],
  ];
  for (const [value, want] of table) assert.equal(quoteValue(value), want);
  assert.equal(quoteValue("abcdef", { maxChars: 3, mark: "'" }), `'abc...' (6 characters)`);
});

Deno.test("quoteValue() never cuts a surrogate pair in half", () => {
  // 79 units, then an emoji (two units) across the 80th.
  const value = "a".repeat(79) + "😀" + "b".repeat(10);
  assert.equal(quoteValue(value), `"${"a".repeat(79)}..." (91 characters)`);
});

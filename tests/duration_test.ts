import assert from "node:assert/strict";
import { parseDuration } from "../lib/cli/duration.ts";
import { formatDuration } from "../lib/report/duration.ts";
import { UsageError } from "../lib/errors.ts";

Deno.test("parseDuration() accepts the documented forms", () => {
  const table: [string, number][] = [
    ["250ms", 250],
    ["2s", 2000],
    ["1.5s", 1500],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["3", 3000],
    ["0.25", 250],
    [".5s", 500],
    ["0", 0],
    ["0ms", 0],
    [" 2s ", 2000],
    ["596h", 596 * 3_600_000],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text, "--timeout"), ms, text);
});

Deno.test("parseDuration() rejects bad text with one line naming the flag and the value", () => {
  const bad = [
    "",
    " ",
    "abc",
    "-1s",
    "1x",
    "1.s",
    "1e3",
    "s",
    "ms",
    "2 s",
    "1s2",
    "0x10",
    "30d",
    "597h",
    "1.5.5s",
    "Infinity",
  ];
  for (const text of bad) {
    assert.throws(() => parseDuration(text, "--idle-timeout"), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${JSON.stringify(text)}: ${err}`);
      assert.ok(err.message.includes(`"${text}"`), err.message);
      assert.ok(err.message.includes("--idle-timeout"), err.message);
      assert.ok(!err.message.includes("\n"), err.message);
      return true;
    });
  }
});

Deno.test("formatDuration() renders milliseconds for people", () => {
  const table: [number, string][] = [
    [0, "0ms"],
    [0.46, "0.5ms"],
    [250, "250ms"],
    [999, "999ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [59_900, "59.9s"],
    [60_000, "1m"],
    [127_000, "2m7s"],
    [90_500, "1m30.5s"],
    // Carrying: each part rounds once, so 59.97 s is never "60s" nor 119.97 s "1m60s".
    [999.96, "1s"],
    [59_950, "1m"],
    [119_970, "2m"],
    [119_949, "1m59.9s"],
    [3_599_970, "1h"],
    [3_600_000, "1h"],
    [5_400_000, "1h30m"],
    [3_630_000, "60m30s"],
  ];
  for (const [ms, text] of table) assert.equal(formatDuration(ms), text, String(ms));
});

import assert from "node:assert/strict";
import { roundMs, roundRate, roundUs } from "../lib/report/numbers.ts";

Deno.test("roundMs() keeps microseconds: at most three decimals", () => {
  const cases: [number | null, number | null][] = [
    [1.23456789, 1.235],
    [0.0004, 0],
    [0.0005, 0.001],
    [2, 2],
    [123456.78951, 123456.79],
    [null, null],
  ];
  for (const [input, expected] of cases) assert.equal(roundMs(input), expected, String(input));
});

Deno.test("roundUs() gives whole microseconds", () => {
  assert.equal(roundUs(885.6666), 886);
  assert.equal(roundUs(0.4), 0);
  assert.equal(roundUs(null), null);
});

Deno.test("roundRate() keeps one decimal for rates and percentages", () => {
  assert.equal(roundRate(464.2164948453608), 464.2);
  assert.equal(roundRate(100 / 3), 33.3);
  assert.equal(roundRate(2785.25), 2785.3);
  assert.equal(roundRate(0), 0);
  assert.equal(roundRate(null), null);
});

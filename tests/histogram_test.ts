import assert from "node:assert/strict";
import fc from "fast-check";
import { Histogram } from "../lib/report/histogram.ts";

/** The exact nearest-rank percentile of a list. */
function exactPercentile(values: number[], percent: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((percent / 100) * sorted.length));
  return sorted[rank - 1] ?? NaN;
}

Deno.test("Histogram.summary() is all null for an empty histogram", () => {
  const h = new Histogram();
  assert.deepEqual(h.summary(), {
    count: 0,
    minUs: null,
    meanUs: null,
    p50Us: null,
    p90Us: null,
    p99Us: null,
    maxUs: null,
  });
});

Deno.test("Histogram.percentile() is exact for small values", () => {
  const h = new Histogram();
  const values = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100 us
  for (const v of values) h.record(v);
  assert.equal(h.percentile(50), 50);
  assert.equal(h.percentile(90), 90);
  assert.equal(h.percentile(99), 99);
  assert.equal(h.percentile(100), 100);
  assert.equal(h.percentile(0), 1);
  assert.equal(h.summary().meanUs, 50.5);
});

Deno.test("Histogram.record() has no cap: hours and days keep their magnitude", () => {
  const h = new Histogram();
  const day = 86_400 * 1_000_000; // us
  h.record(150_000_000); // 150 s, past the 100 s cap of simpler tools
  h.record(day);
  h.record(2 ** 52 + 12345);
  const s = h.summary();
  assert.equal(s.minUs, 150_000_000);
  assert.equal(s.maxUs, 2 ** 52 + 12345);
  const p50 = s.p50Us ?? 0;
  assert.ok(p50 >= day && p50 <= day * (1 + 1 / 256), `p50 ${p50} near one day`);
});

Deno.test("Histogram.percentile() stays within the relative error bound", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 1, maxLength: 300 }),
      fc.constantFrom(1, 50, 90, 99, 99.9, 100),
      fc.integer({ min: 1, max: 12 }),
      (values, percent, bits) => {
        const h = new Histogram({ precisionBits: bits });
        for (const v of values) h.record(v);
        const exact = exactPercentile(values, percent);
        const got = h.percentile(percent) ?? NaN;
        // Never below the exact value, never above it by more than 2^-bits.
        assert.ok(got >= exact, `p${percent} ${got} < exact ${exact}`);
        assert.ok(got <= exact + exact * 2 ** -bits, `p${percent} ${got} >> exact ${exact}`);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("Histogram.record() buckets alike on both sides of 2^31 (the 32-bit fast path)", () => {
  for (const bits of [1, 8, 16]) {
    for (
      const v of [2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 30 + 12345, 2 ** 32 + 7]
    ) {
      const h = new Histogram({ precisionBits: bits });
      h.record(v);
      h.record(2 ** 50);
      const got = h.percentile(50) ?? NaN;
      assert.ok(got >= v && got <= v + v * 2 ** -bits, `bits ${bits}: p50 ${got} for ${v}`);
    }
  }
});

Deno.test("Histogram.merge() equals recording everything in one histogram", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 10 ** 9 })),
      fc.array(fc.integer({ min: 0, max: 10 ** 12 })),
      (a, b) => {
        const left = new Histogram();
        const right = new Histogram();
        const all = new Histogram();
        for (const v of a) left.record(v), all.record(v);
        for (const v of b) right.record(v), all.record(v);
        left.merge(right);
        assert.deepEqual(left.summary(), all.summary());
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("Histogram.recordMs() keeps microsecond resolution", () => {
  const h = new Histogram();
  h.recordMs(0.0374); // 37.4 us -> 37
  h.recordMs(1.0006); // 1000.6 us -> 1001
  assert.equal(h.summary().minUs, 37);
  assert.equal(h.summary().maxUs, 1001);
});

Deno.test("Histogram rejects bad input", () => {
  assert.throws(() => new Histogram({ precisionBits: 0 }), RangeError);
  assert.throws(() => new Histogram().record(NaN), RangeError);
  assert.throws(() => new Histogram().percentile(101), RangeError);
  assert.throws(() => new Histogram().merge(new Histogram({ precisionBits: 4 })), RangeError);
  const h = new Histogram();
  h.record(-5); // a clock step counts as 0
  assert.equal(h.summary().minUs, 0);
});

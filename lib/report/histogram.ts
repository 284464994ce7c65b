/**
 * A latency histogram with microsecond resolution and no upper cap, shaped
 * after HdrHistogram: log-linear buckets (each power of two split into
 * `2^precisionBits` equal sub-buckets) give a bounded relative error at every
 * magnitude, from 1 us to days, in a few kilobytes. Histograms with the same
 * precision merge by adding counts, so each connection can keep its own.
 *
 * @module
 */

/** Options of {@linkcode Histogram}. */
export interface HistogramOptions {
  /**
   * Sub-buckets per power of two, as a power of two: values below
   * `2^(precisionBits+1)` us are exact, larger ones are within a relative error
   * of `2^-precisionBits` (8 -> 1/256, about 0.4%). Between 1 and 16.
   * @default {8}
   */
  precisionBits?: number;
}

/** Percentiles and extremes of a histogram, in microseconds (null when empty). */
export interface HistogramSummary {
  /** Number of recorded values. */
  count: number;
  /** Smallest recorded value, exact. */
  minUs: number | null;
  /** Arithmetic mean of the recorded values, exact. */
  meanUs: number | null;
  /** Median. */
  p50Us: number | null;
  /** 90th percentile. */
  p90Us: number | null;
  /** 99th percentile. */
  p99Us: number | null;
  /** Largest recorded value, exact. */
  maxUs: number | null;
}

/** floor(log2(v)) for a positive safe integer, exact also above 2^32. */
function log2Floor(value: number): number {
  if (value < 0x1_0000_0000) return 31 - Math.clz32(value);
  // Math.log2 rounds up just below a power of two (2^49 - 1 gives 49): use
  // clz32 on the high 32 bits instead, exact because dividing by 2^32 is.
  return 63 - Math.clz32(Math.floor(value / 0x1_0000_0000));
}

/**
 * Records non-negative durations in whole microseconds and answers
 * percentiles. A percentile is the highest value of the bucket holding it,
 * clamped to the exact maximum, so it never understates (as in HdrHistogram).
 *
 * @example Record round trips and read the median
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const rtt = new Histogram();
 * for (const us of [120, 95, 101, 4_000_000_000]) rtt.record(us);
 * console.log(rtt.summary().p50Us); // 101
 * console.log(rtt.summary().maxUs); // 4000000000 (about 67 minutes: no cap)
 * ```
 */
export class Histogram {
  /** Sub-buckets per power of two, as a power of two. */
  readonly precisionBits: number;
  /** 2 ** precisionBits and 2 ** (precisionBits + 1), computed once (record is hot). */
  #sub: number;
  #linear: number;
  #counts: number[] = [];
  #count = 0;
  #sum = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Builds an empty histogram. */
  constructor(options: HistogramOptions = {}) {
    const bits = options.precisionBits ?? 8;
    if (!Number.isInteger(bits) || bits < 1 || bits > 16) {
      throw new RangeError(`invalid precisionBits ${bits}: must be a whole number 1-16`);
    }
    this.precisionBits = bits;
    this.#sub = 2 ** bits;
    this.#linear = 2 ** (bits + 1);
  }

  /** Number of recorded values. */
  get count(): number {
    return this.#count;
  }

  /** Index of the bucket that holds `value` (a non-negative safe integer). */
  #index(value: number): number {
    if (value < this.#linear) return value;
    if (value < 0x8000_0000) {
      // Below 2^31 (36 minutes in us): plain 32-bit shifts, no power or division.
      const shift = 31 - Math.clz32(value) - this.precisionBits;
      return shift * this.#sub + (value >> shift);
    }
    const shift = log2Floor(value) - this.precisionBits;
    // value >> shift, without 32-bit truncation.
    const mantissa = Math.floor(value / 2 ** shift);
    return shift * this.#sub + mantissa;
  }

  /** Highest value that lands in bucket `index`. */
  #highest(index: number): number {
    const bits = this.precisionBits;
    if (index < 2 ** (bits + 1)) return index;
    const shift = Math.floor(index / 2 ** bits) - 1;
    const mantissa = index - shift * 2 ** bits;
    return (mantissa + 1) * 2 ** shift - 1;
  }

  /**
   * Adds one value in microseconds; fractions are rounded to the nearest
   * microsecond, negative values (clock steps) count as 0.
   */
  record(valueUs: number, times = 1): void {
    if (!Number.isFinite(valueUs)) throw new RangeError(`invalid histogram value ${valueUs}`);
    const value = Math.min(Math.max(0, Math.round(valueUs)), Number.MAX_SAFE_INTEGER);
    const index = this.#index(value);
    while (this.#counts.length <= index) this.#counts.push(0);
    // The loop above made the slot: it is a number.
    this.#counts[index]! += times;
    this.#count += times;
    this.#sum += value * times;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  /** Adds a duration given in milliseconds (as from `performance.now()` differences). */
  recordMs(valueMs: number): void {
    this.record(valueMs * 1000);
  }

  /** Adds every value of `other` (same `precisionBits`) to this histogram. */
  merge(other: Histogram): void {
    if (other.precisionBits !== this.precisionBits) {
      throw new RangeError(
        `cannot merge histograms of precisionBits ${other.precisionBits} and ${this.precisionBits}`,
      );
    }
    const counts = other.#counts;
    while (this.#counts.length < counts.length) this.#counts.push(0);
    for (let i = 0; i < counts.length; i++) {
      // Both arrays reach index i (this one was grown above).
      this.#counts[i]! += counts[i]!;
    }
    this.#count += other.#count;
    this.#sum += other.#sum;
    this.#min = Math.min(this.#min, other.#min);
    this.#max = Math.max(this.#max, other.#max);
  }

  /**
   * The value at or below which `percent`% of the values lie (0-100), in
   * microseconds; null when empty. 0 gives the exact minimum, 100 the exact
   * maximum.
   */
  percentile(percent: number): number | null {
    if (!(percent >= 0 && percent <= 100)) {
      throw new RangeError(`invalid percentile ${percent}: must be 0-100`);
    }
    if (this.#count === 0) return null;
    if (percent === 0) return this.#min;
    // The rank of the value, 1-based: the smallest value with at least this many at or below it.
    const rank = Math.max(1, Math.ceil((percent / 100) * this.#count));
    let seen = 0;
    // The last bucket holds the maximum: a rank that reaches it is the exact maximum.
    for (let i = 0; i < this.#counts.length - 1; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.max(this.#min, Math.min(this.#highest(i), this.#max));
    }
    return this.#max;
  }

  /** Count, min, mean, p50, p90, p99 and max, in microseconds. */
  summary(): HistogramSummary {
    const empty = this.#count === 0;
    return {
      count: this.#count,
      minUs: empty ? null : this.#min,
      meanUs: empty ? null : this.#sum / this.#count,
      p50Us: this.percentile(50),
      p90Us: this.percentile(90),
      p99Us: this.percentile(99),
      maxUs: empty ? null : this.#max,
    };
  }
}

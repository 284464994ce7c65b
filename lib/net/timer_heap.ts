/**
 * A binary min-heap of deadlines: the one timer structure behind every
 * per-connection deadline of the readiness loop (lib/net/mux.ts). Push and pop
 * are O(log n); entries are never removed from the middle: a caller marks an
 * entry stale (its own generation check) and skips it when it comes out.
 *
 * @module
 */

/** One entry: when it is due, and what it is for (owned by the caller). */
export interface TimerEntry<T> {
  /** Due time, in `performance.now()` milliseconds. */
  at: number;
  /** What is due. */
  item: T;
}

/**
 * A min-heap ordered by `at`; ties come out in push order.
 *
 * @example Pop what is due
 * ```ts
 * import { TimerHeap } from "./timer_heap.ts";
 * const heap = new TimerHeap<string>();
 * heap.push(20, "idle");
 * heap.push(10, "connect");
 * console.log(heap.nextAt()); // 10
 * console.log(heap.popDue(15).map((entry) => entry.item)); // ["connect"]
 * ```
 */
export class TimerHeap<T> {
  #at: number[] = [];
  #seq: number[] = [];
  #items: T[] = [];
  #nextSeq = 0;

  /** Number of entries, stale ones included. */
  get size(): number {
    return this.#at.length;
  }

  /** Adds an entry due at `at`. */
  push(at: number, item: T): void {
    this.#at.push(at);
    this.#seq.push(this.#nextSeq++);
    this.#items.push(item);
    this.#up(this.#at.length - 1);
  }

  /** Due time of the earliest entry, or Infinity when empty. */
  nextAt(): number {
    return this.#at.length === 0 ? Infinity : this.#at[0]!;
  }

  /** Removes and returns the earliest entry, or undefined when empty. */
  pop(): TimerEntry<T> | undefined {
    const n = this.#at.length;
    if (n === 0) return undefined;
    const top = { at: this.#at[0]!, item: this.#items[0]! };
    const lastAt = this.#at.pop()!;
    const lastSeq = this.#seq.pop()!;
    const lastItem = this.#items.pop()!;
    if (n > 1) {
      this.#at[0] = lastAt;
      this.#seq[0] = lastSeq;
      this.#items[0] = lastItem;
      this.#down(0);
    }
    return top;
  }

  /** Removes and returns every entry due at or before `now`, earliest first. */
  popDue(now: number): TimerEntry<T>[] {
    const due: TimerEntry<T>[] = [];
    while (this.#at.length > 0 && this.#at[0]! <= now) due.push(this.pop()!);
    return due;
  }

  /** Drops every entry. */
  clear(): void {
    this.#at.length = 0;
    this.#seq.length = 0;
    this.#items.length = 0;
  }

  #less(i: number, j: number): boolean {
    const a = this.#at[i]!;
    const b = this.#at[j]!;
    return a < b || (a === b && this.#seq[i]! < this.#seq[j]!);
  }

  #swap(i: number, j: number): void {
    [this.#at[i], this.#at[j]] = [this.#at[j]!, this.#at[i]!];
    [this.#seq[i], this.#seq[j]] = [this.#seq[j]!, this.#seq[i]!];
    [this.#items[i], this.#items[j]] = [this.#items[j]!, this.#items[i]!];
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#at.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < n && this.#less(left, least)) least = left;
      if (right < n && this.#less(right, least)) least = right;
      if (least === i) return;
      this.#swap(i, least);
      i = least;
    }
  }
}

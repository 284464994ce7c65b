/**
 * The ready queue of the readiness loop (lib/net/mux.ts): completed operations
 * are pushed from their promise callbacks and drained by the loop in order.
 * Push and shift are O(1) (an array with a moving head, compacted now and
 * then), and a push wakes the loop when it sleeps.
 *
 * @module
 */

/**
 * A FIFO queue with a wake-up: `wait()` resolves at the next `push()` (at
 * once if the queue is not empty).
 *
 * @example Drain what is ready, then sleep
 * ```ts
 * import { ReadyQueue } from "./ready_queue.ts";
 * const queue = new ReadyQueue<string>();
 * setTimeout(() => queue.push("read"), 10);
 * await queue.wait();
 * console.log(queue.shift()); // read
 * ```
 */
export class ReadyQueue<T> {
  /** Queued items are `#items[#head .. #tail)`; the array keeps its capacity when empty. */
  #items: (T | undefined)[] = [];
  #head = 0;
  #tail = 0;
  #wake: (() => void) | null = null;

  /** Number of queued items. */
  get length(): number {
    return this.#tail - this.#head;
  }

  /** Appends an item and wakes a waiting loop. */
  push(item: T): void {
    this.#items[this.#tail++] = item;
    this.notify();
  }

  /** Wakes a waiting loop without queuing anything (e.g. a timer fired). */
  notify(): void {
    const wake = this.#wake;
    if (wake !== null) {
      this.#wake = null;
      wake();
    }
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#head >= this.#tail) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#tail) {
      this.#head = 0;
      this.#tail = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#tail) {
      // Never empty for long: move the live part down so the array stays bounded.
      this.#items.copyWithin(0, this.#head, this.#tail);
      this.#tail -= this.#head;
      this.#items.fill(undefined, this.#tail, this.#tail + this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Resolves at the next push or notify; at once when items are queued. */
  wait(): Promise<void> {
    if (this.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.#wake = resolve);
  }
}

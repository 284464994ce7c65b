import assert from "node:assert/strict";
import { SharedInput } from "../lib/net/shared_input.ts";
import type { ByteReader } from "../lib/stream.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A source whose reads complete only when the test pushes a chunk (or null for EOF). */
function manualSource() {
  const waiting: ((chunk: Uint8Array | null) => void)[] = [];
  let reads = 0;
  const source: ByteReader = {
    read: (buffer) => {
      reads++;
      return new Promise((resolve) => {
        waiting.push((chunk) => {
          if (chunk === null) return resolve(null);
          buffer.set(chunk);
          resolve(chunk.length);
        });
      });
    },
  };
  return {
    source,
    push: (chunk: string | null) =>
      waiting.shift()?.(chunk === null ? null : encoder.encode(chunk)),
    get reads() {
      return reads;
    },
  };
}

Deno.test("SharedInput.lease() keeps bytes that arrive after their lease ended for the next lease", async () => {
  const manual = manualSource();
  const input = new SharedInput(manual.source);
  const buffer = new Uint8Array(16);
  const first = input.lease();
  const pending = first.read(buffer);
  first.release();
  manual.push("late");
  assert.equal(await pending, null, "a released lease sees EOF");
  const second = input.lease();
  const n = await second.read(buffer);
  assert.equal(decoder.decode(buffer.subarray(0, n ?? 0)), "late");
  assert.equal(manual.reads, 1, "each byte is read from the source once");
  second.release();
});

Deno.test("SharedInput.lease() hands out held bytes in pieces and ends every later lease after EOF", async () => {
  const manual = manualSource();
  const input = new SharedInput(manual.source);
  const small = new Uint8Array(3);
  {
    using lease = input.lease();
    const reading = lease.read(small);
    manual.push("abcdef");
    assert.equal(decoder.decode(small.subarray(0, (await reading) ?? 0)), "abc");
  }
  {
    using lease = input.lease();
    assert.equal(decoder.decode(small.subarray(0, (await lease.read(small)) ?? 0)), "def");
    const reading = lease.read(small);
    manual.push(null);
    assert.equal(await reading, null);
  }
  assert.equal(input.ended, true);
  using later = input.lease();
  assert.equal(await later.read(small), null);
  assert.equal(manual.reads, 2);
});

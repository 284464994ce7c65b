import assert from "node:assert/strict";
import { SharedInput } from "../lib/net/shared_input.ts";

Deno.test("SharedInput lease read() after release() is EOF and leaves the bytes for the next lease", async () => {
  const chunks = [new Uint8Array([1, 2, 3])];
  const input = new SharedInput({
    read: (buffer) => {
      const chunk = chunks.shift();
      if (chunk === undefined) return Promise.resolve(null);
      buffer.set(chunk);
      return Promise.resolve(chunk.length);
    },
  });
  const first = input.lease();
  first.release();
  const buffer = new Uint8Array(8);
  assert.equal(await first.read(buffer), null);
  using second = input.lease();
  assert.equal(await second.read(buffer), 3);
  assert.deepEqual([...buffer.subarray(0, 3)], [1, 2, 3]);
  assert.equal(await second.read(buffer), null);
  assert.equal(input.ended, true);
});

Deno.test("SharedInput lease read() passes on a source read of no bytes as 0", async () => {
  const results: (number | null)[] = [0, null];
  const input = new SharedInput({ read: () => Promise.resolve(results.shift() ?? null) });
  using lease = input.lease();
  const buffer = new Uint8Array(8);
  assert.equal(await lease.read(buffer), 0, "not EOF: the source may have more");
  assert.equal(input.ended, false);
  assert.equal(await lease.read(buffer), null);
  assert.equal(input.ended, true);
});

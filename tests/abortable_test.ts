import assert from "node:assert/strict";
import { abortable } from "../lib/net/abortable.ts";

/** A promise and its resolve function. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test("abortable() resolves with the value when the signal does not fire", async () => {
  const late: string[] = [];
  const work = deferred<string>();
  const waiting = abortable(work.promise, new AbortController().signal, (v) => late.push(v));
  work.resolve("done");
  assert.equal(await waiting, "done");
  assert.deepEqual(late, []);
});

Deno.test("abortable() rejects with the reason at once and hands a late value to onLate", async () => {
  const controller = new AbortController();
  const reason = new Error("gave up");
  const late: string[] = [];
  const work = deferred<string>();
  const waiting = abortable(work.promise, controller.signal, (v) => late.push(v));
  controller.abort(reason);
  await assert.rejects(waiting, reason);
  work.resolve("opened too late");
  await work.promise;
  assert.deepEqual(late, ["opened too late"]);
});

Deno.test("abortable() with a fired signal rejects at once, and a later failure is not unhandled", async () => {
  const controller = new AbortController();
  const reason = new DOMException("deadline", "TimeoutError");
  controller.abort(reason);
  const late: number[] = [];
  let fail: (err: Error) => void = () => {};
  const work = new Promise<number>((_, reject) => fail = reject);
  await assert.rejects(abortable(work, controller.signal, (v) => late.push(v)), reason);
  // Deno fails the test on an unhandled rejection: onLate's watcher must catch it.
  fail(new Error("lookup failed"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(late, []);
});

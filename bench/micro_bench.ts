/**
 * In-process micro-benchmarks of tcpc's hot paths: `deno bench bench/micro_bench.ts`.
 *
 * - hexDump and escapeBytes run once per received chunk with `-x` / `-vv`;
 * - parseEscapes runs once per `--data` argument;
 * - the ready queue and the timer heap run once per event of the readiness
 *   loop (lib/net/mux.ts), so their cost bounds events per second;
 * - the coalescing stdout writer (lib/net/stdio.ts) runs once per received chunk.
 *
 * @module
 */

import { hexDump } from "../lib/report/hexdump.ts";
import { escapeBytes } from "../lib/report/safe_text.ts";
import { parseEscapes } from "../lib/cli/escape.ts";
import { ReadyQueue } from "../lib/net/ready_queue.ts";
import { TimerHeap } from "../lib/net/timer_heap.ts";
import { bufferedWriter } from "../lib/net/stdio.ts";

const random = new Uint8Array(64 * 1024);
for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
const text = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example\r\n\r\n".repeat(100));

Deno.bench("hexDump() of 4 KiB of binary", { group: "report" }, () => {
  hexDump(random.subarray(0, 4096));
});

Deno.bench("escapeBytes() of 4 KiB of binary", { group: "report" }, () => {
  escapeBytes(random.subarray(0, 4096));
});

Deno.bench("escapeBytes() of 3.3 KiB of HTTP text", { group: "report" }, () => {
  escapeBytes(text);
});

Deno.bench("escapeBytes() first 64 bytes of a 64 KiB chunk (the -vv log line)", {
  group: "report",
}, () => {
  escapeBytes(random, { maxBytes: 64 });
});

const escaped = "PING\\r\\n".repeat(200) + "\\x00\\xff\\t\\\\";
Deno.bench("parseEscapes() of a 1.4 KB --data argument", () => {
  parseEscapes(escaped, "--data");
});

Deno.bench("ReadyQueue: 10,000 push then 10,000 shift", { group: "loop" }, () => {
  const queue = new ReadyQueue<number>();
  for (let i = 0; i < 10_000; i++) queue.push(i);
  while (queue.shift() !== undefined) { /* drain */ }
});

Deno.bench("ReadyQueue: 10,000 interleaved push/shift", { group: "loop" }, () => {
  const queue = new ReadyQueue<number>();
  for (let i = 0; i < 10_000; i++) {
    queue.push(i);
    queue.push(i);
    queue.shift();
  }
});

Deno.bench("TimerHeap: 10,000 push then popDue all", { group: "loop" }, () => {
  const heap = new TimerHeap<number>();
  for (let i = 0; i < 10_000; i++) heap.push((i * 7919) % 10_000, i);
  heap.popDue(Infinity);
});

Deno.bench("TimerHeap: 10,000 push/pop at a steady 1,000 entries", { group: "loop" }, () => {
  const heap = new TimerHeap<number>();
  for (let i = 0; i < 1000; i++) heap.push(i, i);
  for (let i = 1000; i < 11_000; i++) {
    heap.push(i + (i % 97), i);
    heap.pop();
  }
});

const chunk = new Uint8Array(256 * 1024);
Deno.bench("bufferedWriter(): 64 x 256 KiB into an instant sink", async () => {
  const writer = bufferedWriter({ write: (data) => Promise.resolve(data.length) });
  for (let i = 0; i < 64; i++) await writer.write(chunk);
  await writer.flush();
});

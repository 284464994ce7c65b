import assert from "node:assert/strict";
import { hexDump } from "../lib/report/hexdump.ts";

Deno.test("hexDump() renders hexdump -C style lines", () => {
  assert.deepEqual(hexDump(new TextEncoder().encode("hi\n"), { prefix: "< " }), [
    "< 00000000  68 69 0a                                          |hi.|",
  ]);
  const all = Uint8Array.from({ length: 20 }, (_, i) => 0x41 + i);
  assert.deepEqual(hexDump(all), [
    "00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|",
    "00000010  51 52 53 54                                       |QRST|",
  ]);
  assert.deepEqual(hexDump(new Uint8Array(0)), []);
});

Deno.test("hexDump() matches hexdump -C for the same bytes", async () => {
  const data = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 5) % 256);
  const child = new Deno.Command("hexdump", {
    args: ["-C"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  const { stdout, success } = await child.output();
  assert.ok(success);
  // hexdump -C ends with a line holding only the total length; it pads short rows to width.
  const want = new TextDecoder().decode(stdout).trimEnd().split("\n").slice(0, -1);
  const got = hexDump(data);
  assert.equal(got.length, want.length);
  got.forEach((line, i) =>
    assert.equal(line.replace(/\s+\|/, " |"), want[i]?.replace(/\s+\|/, " |"))
  );
});

Deno.test("hexDump() continues offsets and never emits control characters", () => {
  const lines = hexDump(new Uint8Array([0x1b, 0x5b, 0x32, 0x4a, 0x9b, 0x00, 0x7f]), {
    offset: 0x100,
    prefix: "> ",
  });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.startsWith("> 00000100  1b 5b 32 4a 9b 00 7f "));
  assert.ok(lines[0]?.endsWith("|.[2J...|"));
  const random = crypto.getRandomValues(new Uint8Array(1000));
  // deno-lint-ignore no-control-regex
  for (const line of hexDump(random)) assert.ok(!/[\x00-\x1f\x7f-\xff]/.test(line), line);
});

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { isIP } from "node:net";
import fc from "fast-check";
import { hostKind, ipFamily } from "../lib/net/address.ts";

const CASES = [
  "127.0.0.1",
  "0.0.0.0",
  "255.255.255.255",
  "256.0.0.1",
  "01.2.3.4",
  "1.2.3",
  "1.2.3.4.5",
  "1..2.3",
  "",
  ".",
  "::",
  "::1",
  "1::",
  "1:2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7::",
  "::2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8:9",
  "1:2:3:4:5:6:7",
  "1::2::3",
  ":::",
  "::ffff:127.0.0.1",
  "::ffff:1.2.3",
  "1:2:3:4:5:6:1.2.3.4",
  "1:2:3:4:5:6:7:1.2.3.4",
  "1:2:3:4:5::1.2.3.4",
  "fe80::1%lo",
  "fe80::1%",
  "fe80::1%eth0.1",
  "fe80::1%a b",
  "12345::",
  "g::1",
  "::1.2.3.04",
  "localhost",
  "1.2.3.4%lo",
  "[::1]",
  "::1:",
  ":1::",
  "1:::2",
  "abcd:ef01:2345:6789:ABCD:EF01:2345:6789",
  "::0.0.0.0",
  "0::0",
  "1:2:3:4::5:6:7",
  "1:2:3:4::5:6:7:8",
  // A dotted group that is not the text's last (found by the generated-text test).
  "1.2.3.4::",
  "1.2.3.4::%lo",
  "1.255.255.0::%lo:0",
  "1::1.2.3.4:0",
];

Deno.test("ipFamily() answers like node:net isIP on hand-picked literals", () => {
  for (const text of CASES) assertEquals(ipFamily(text), isIP(text), text);
});

Deno.test("ipFamily() answers like node:net isIP on generated text", () => {
  const piece = fc.oneof(
    fc.constantFrom("", "0", "1", "ff", "ffff", "12345", "255", "256", "01", "g", "%lo", "%"),
    fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16)),
  );
  const sep = fc.constantFrom(":", "::", ".", ":::");
  const text = fc.array(fc.tuple(piece, sep), { maxLength: 10 }).chain((pairs) =>
    piece.map((end) => pairs.map(([p, s]) => p + s).join("") + end)
  );
  fc.assert(fc.property(text, (t) => ipFamily(t) === isIP(t)), { numRuns: 20000 });
  fc.assert(fc.property(fc.ipV6(), (t) => ipFamily(t) === 6), { numRuns: 2000 });
  fc.assert(fc.property(fc.ipV4(), (t) => ipFamily(t) === 4), { numRuns: 2000 });
});

Deno.test("hostKind() tells literals from names", () => {
  assertEquals(hostKind("10.0.0.1"), "ipv4");
  assertEquals(hostKind("fe80::1%lo"), "ipv6");
  assertEquals(hostKind("example.test"), "name");
  assertEquals(hostKind("0x7f.1"), "name");
});

import assert from "node:assert/strict";
import {
  checkFamily,
  parseHost,
  parsePort,
  parseTarget,
  parseTargetRanges,
} from "../lib/cli/target.ts";
import { hostKind } from "../lib/net/address.ts";
import { UsageError } from "../lib/errors.ts";

function assertUsage(fn: () => unknown, quoted: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    // Values over 80 characters are quoted cut, with their length.
    const shown = quoted.length <= 80
      ? `"${quoted}"`
      : `"${quoted.slice(0, 80)}..." (${quoted.length} characters)`;
    assert.ok(err.message.includes(shown), err.message);
    assert.ok(!err.message.includes("\n"), err.message);
    return true;
  });
}

Deno.test("hostKind() tells IPv4, IPv6 and names apart", () => {
  const table: [string, string][] = [
    ["127.0.0.1", "ipv4"],
    ["::1", "ipv6"],
    ["fe80::1%lo", "ipv6"],
    ["localhost", "name"],
    ["a.b.example", "name"],
  ];
  for (const [host, kind] of table) assert.equal(hostKind(host), kind, host);
});

Deno.test("parseHost() accepts literals and names, removing IPv6 brackets", () => {
  const table: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["::1", "::1"],
    ["[::1]", "::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["::ffff:127.0.0.1", "::ffff:127.0.0.1"],
    ["fe80::1%lo", "fe80::1%lo"],
    ["[fe80::1%lo]", "fe80::1%lo"],
    ["localhost", "localhost"],
    ["my-host.example.", "my-host.example."],
    ["_srv.example", "_srv.example"],
    ["a".repeat(63) + ".example", "a".repeat(63) + ".example"],
  ];
  for (const [text, host] of table) assert.equal(parseHost(text), host, text);
});

Deno.test("parseHost() rejects bad hosts naming the value", () => {
  const bad = [
    "",
    "[]",
    "256.1.1.1",
    "1.2.3.999",
    "1.2.3",
    "1.2.3.4.5",
    ":::1",
    "2001:db8::g",
    "bad host",
    "-lead.example",
    "trail-.example",
    "a..b",
    "a".repeat(64) + ".example",
    ("abc." + "a".repeat(60) + ".").repeat(4) + "x",
    "host/path",
    "émoji.example",
    "x\u001b[31m",
    // getaddrinfo reads these as octal or hex: 127.0.0.010 would reach 127.0.0.8.
    "127.0.0.010",
    "010.0.0.1",
    "0x7f.1",
    "0x7f000001",
    "127.1",
    "fe80::1%",
  ];
  for (const text of bad) assertUsage(() => parseHost(text), text);
});

Deno.test("parsePort() accepts 1-65535 in decimal only", () => {
  for (
    const [text, port] of [["1", 1], ["80", 80], ["65535", 65535], ["00080", 80], [
      "6379",
      6379,
    ]] as const
  ) {
    assert.equal(parsePort(text), port);
  }
  for (const text of ["0", "65536", "-1", "", "1.5", "0x50", "80a", " 80", "1e3", "999999"]) {
    assertUsage(() => parsePort(text), text);
  }
});

Deno.test("parseTarget() reads host:port, ranges, lists and [v6]:port", () => {
  const table: [string, string, number[]][] = [
    ["127.0.0.1:80", "127.0.0.1", [80]],
    ["127.0.0.1:80-82", "127.0.0.1", [80, 81, 82]],
    ["localhost:22,80,8000-8001", "localhost", [22, 80, 8000, 8001]],
    ["[::1]:443", "::1", [443]],
    ["[::1]:1-2", "::1", [1, 2]],
  ];
  for (const [text, host, ports] of table) {
    assert.deepEqual(parseTarget(text), { host, ports }, text);
  }
});

Deno.test("parseTarget() rejects bad targets naming the value", () => {
  const table: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::1:80", "::1:80"],
    ["[::1]80", "[::1]80"],
    ["[::1", "[::1"],
    ["127.0.0.1:0", "0"],
    ["127.0.0.1:82-80", "82-80"],
    ["127.0.0.1:80,", ""],
    ["300.0.0.1:80", "300.0.0.1"],
    ["127.0.0.1:1-70000", "70000"],
  ];
  for (const [text, quoted] of table) assertUsage(() => parseTarget(text), quoted);
});

Deno.test("parseTargetRanges() counts ports without expanding them", () => {
  const spec = parseTargetRanges("127.0.0.1:1-65535,80,1-65535");
  assert.equal(spec.host, "127.0.0.1");
  assert.deepEqual(spec.ranges, [[1, 65535], [80, 80], [1, 65535]]);
  assert.equal(spec.count, 131071);
  // 2,100 full ranges: counted in a moment, never built.
  const huge = parseTargetRanges(`[::1]:${Array(2100).fill("1-65535").join(",")}`);
  assert.equal(huge.host, "::1");
  assert.equal(huge.count, 137_623_500);
  assertUsage(() => parseTargetRanges("127.0.0.1:9-1"), "9-1");
});

Deno.test("checkFamily() rejects a literal of the other family with a UsageError", () => {
  checkFamily("127.0.0.1", 4);
  checkFamily("::1", 6);
  checkFamily("localhost", 4);
  checkFamily("::1", undefined);
  assert.throws(() => checkFamily("::1", 4), (err: unknown) => {
    assert.ok(err instanceof UsageError);
    assert.equal(
      err.message,
      `conflicting -4 and host "::1": an IPv6 address (drop -4 or give an IPv4 address)`,
    );
    return true;
  });
  assert.throws(() => checkFamily("127.0.0.1", 6), /conflicting -6 and host "127\.0\.0\.1"/);
});

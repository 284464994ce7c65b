import assert from "node:assert/strict";
import { ipBytes } from "../lib/net/ip_bytes.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("ipBytes() expands IPv4 and IPv6 literals", () => {
  const table: [string, string][] = [
    ["127.0.0.1", "7f000001"],
    ["0.0.0.0", "00000000"],
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["2001:db8::1:0:0:1", "20010db8000000000001000000000001"],
    ["::ffff:10.1.2.3", "00000000000000000000ffff0a010203"],
    ["fe80::abcd%eth0", "fe80000000000000000000000000abcd"],
  ];
  for (const [ip, bytes] of table) assert.equal(hex(ipBytes(ip)), bytes, ip);
  assert.throws(() => ipBytes("example.com"), RangeError);
});

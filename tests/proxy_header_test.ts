import assert from "node:assert/strict";
import { PROXY_V2_SIGNATURE, proxyHeader } from "../lib/net/proxy_header.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("proxyHeader() v1 is the text line of section 2.1", () => {
  const table: [string, string, number, number, string][] = [
    // The example of haproxy's proxy-protocol.txt, section 2.1.
    [
      "192.168.0.1",
      "192.168.0.11",
      56324,
      443,
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
    ],
    ["::1", "2001:db8::2", 0, 65535, "PROXY TCP6 ::1 2001:db8::2 0 65535\r\n"],
    ["fe80::1%lo", "fe80::2%lo", 1, 2, "PROXY TCP6 fe80::1 fe80::2 1 2\r\n"],
  ];
  for (const [src, dst, sport, dport, text] of table) {
    const header = proxyHeader({
      version: 1,
      source: { address: src, port: sport },
      destination: { address: dst, port: dport },
    });
    assert.equal(new TextDecoder().decode(header), text);
    // Section 2.1: at most 107 bytes.
    assert.ok(header.length <= 107);
  }
});

Deno.test("proxyHeader() v2 is signature, 0x21, family, length, addresses, ports (section 2.2)", () => {
  const sig = "0d0a0d0a000d0a515549540a";
  assert.equal(hex(PROXY_V2_SIGNATURE), sig);
  const v4 = proxyHeader({
    version: 2,
    source: { address: "192.168.0.1", port: 56324 },
    destination: { address: "192.168.0.11", port: 443 },
  });
  assert.equal(hex(v4), sig + "21" + "11" + "000c" + "c0a80001" + "c0a8000b" + "dc04" + "01bb");
  const v6 = proxyHeader({
    version: 2,
    source: { address: "2001:db8::1", port: 1 },
    destination: { address: "::ffff:127.0.0.1", port: 65535 },
  });
  assert.equal(
    hex(v6),
    sig + "21" + "21" + "0024" + "20010db8000000000000000000000001" +
      "00000000000000000000ffff7f000001" + "0001" + "ffff",
  );
});

Deno.test("proxyHeader() refuses mixed families, non-IP addresses and bad ports", () => {
  const bad = [
    { source: { address: "127.0.0.1", port: 1 }, destination: { address: "::1", port: 2 } },
    { source: { address: "localhost", port: 1 }, destination: { address: "127.0.0.1", port: 2 } },
    {
      source: { address: "127.0.0.1", port: 65536 },
      destination: { address: "127.0.0.1", port: 2 },
    },
    { source: { address: "127.0.0.1", port: 1.5 }, destination: { address: "127.0.0.1", port: 2 } },
  ];
  for (const ends of bad) {
    for (const version of [1, 2] as const) {
      assert.throws(() => proxyHeader({ version, ...ends }), RangeError, JSON.stringify(ends));
    }
  }
});

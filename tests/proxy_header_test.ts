import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import { type Conn, emptyFacts } from "../lib/net/conn.ts";
import { PROXY_V2_SIGNATURE, proxyHeader, proxyHeaderLayer } from "../lib/net/proxy_header.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { startBuiltin } from "./peers/servers.ts";

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

/** A conn whose writes never finish until it is closed (a peer that stopped reading). */
function stalledConn(localAddress = "127.0.0.1:40000"): Conn & { closed: boolean } {
  let fail: (err: Error) => void = () => {};
  const conn = {
    closed: false,
    localAddress,
    remoteAddress: "127.0.0.1:8443",
    facts: emptyFacts(),
    read: () => Promise.resolve(null),
    write: () => new Promise<number>((_, reject) => fail = reject),
    closeWrite: () => Promise.resolve(),
    close() {
      conn.closed = true;
      fail(new Deno.errors.BadResource("closed"));
    },
  };
  return conn;
}

async function loopbackConn(port: number): Promise<Conn> {
  return new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
}

Deno.test("proxyHeaderLayer() with a fired signal closes the conn and rejects with its reason", async () => {
  await using peer = await startBuiltin();
  const conn = await loopbackConn(peer.port);
  const controller = new AbortController();
  const reason = new Error("stopped");
  controller.abort(reason);
  try {
    await assert.rejects(proxyHeaderLayer(conn, { version: 1, signal: controller.signal }), reason);
    await assert.rejects(conn.read(new Uint8Array(1)));
  } finally {
    conn.close();
  }
});

Deno.test("proxyHeaderLayer() rejects with the signal's reason when it fires during the write", async () => {
  const conn = stalledConn();
  const controller = new AbortController();
  const reason = new DOMException("deadline", "TimeoutError");
  const layer = proxyHeaderLayer(conn, { version: 2, signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(layer, reason);
  assert.equal(conn.closed, true);
});

Deno.test("proxyHeaderLayer() turns a failed write into a write NetError", async () => {
  const conn = stalledConn();
  const layer = proxyHeaderLayer(conn, { version: 1 });
  conn.close(); // the write fails as on a reset connection
  const err = await layer.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof NetError, String(err));
  assert.equal(err.op, "write");
  assert.equal(err.address, "127.0.0.1:8443");
});

Deno.test("proxyHeaderLayer() refuses a conn whose address is not ip:port", async () => {
  const conn = stalledConn("/run/tcpc.sock");
  await assert.rejects(proxyHeaderLayer(conn, { version: 1 }), {
    name: "RangeError",
    message: 'not an ip:port address: "/run/tcpc.sock"',
  });
});

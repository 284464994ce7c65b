/**
 * proxyLayer() against scripted proxies that send crafted bytes: every odd
 * SOCKS5, SOCKS4 and HTTP CONNECT answer a real proxy (or something that is
 * not one) can give, and what the user is told for each. The scripted peer
 * also checks the exact bytes we send, so the request encoding is tested too.
 */

import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import { proxyLayer, type ProxyLayerOptions } from "../lib/net/proxy.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { canKillSockets, startResetter } from "./peers/faulty.ts";
import { type ScriptAction, startScripted } from "./peers/scripted.ts";
import type { Peer } from "./peers/servers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const SECRET = "pw-Zq81x";

/** Keeps the connection open until the peer stops (the client decides when to close). */
const HOLD: ScriptAction = { pauseMs: 60_000 };

const bytes = (...parts: (number[] | string)[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => typeof p === "string" ? [...enc.encode(p)] : p));

type Options = Omit<ProxyLayerOptions, "proxyAddress">;

async function run(peer: Peer, options: Options): Promise<TcpConn> {
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: peer.port }));
  try {
    return await proxyLayer(conn, {
      proxyAddress: `127.0.0.1:${peer.port}`,
      signal: AbortSignal.timeout(20_000),
      ...options,
    }) as TcpConn;
  } catch (err) {
    conn.close();
    throw err;
  }
}

/** Runs the layer, expects a NetError with op proxy, returns it. */
async function failure(peer: Peer, options: Options): Promise<NetError> {
  try {
    const conn = await run(peer, options);
    conn.close();
  } catch (err) {
    assert.ok(err instanceof NetError, `expected a NetError, got ${err}`);
    assert.equal(err.op, "proxy");
    assert.equal(err.address, `127.0.0.1:${peer.port}`);
    assert.ok(!err.message.includes(SECRET), err.message);
    return err;
  }
  throw new Error("the proxy layer succeeded");
}

const GREETING = [5, 1, 0];
const GREETING_AUTH = [5, 2, 0, 2];
/** CONNECT 127.0.0.1:80. */
const REQUEST_V4 = [5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
const OK_V4 = [5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90];

Deno.test("proxyLayer() a SOCKS5 proxy that closes in its method reply says how far it got", async () => {
  await using peer = await startScripted([{ hearBytes: bytes(GREETING) }, { say: bytes([5]) }]);
  const err = await failure(peer, { type: "socks5", targetHost: "127.0.0.1", targetPort: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(
    err.message,
    /: the proxy closed the connection during the handshake \(1 of 2 bytes of its method selection\)$/,
  );
});

Deno.test("proxyLayer() a SOCKS5 proxy refusing every offered method names what we offered", async () => {
  await using peer = await startScripted([
    { hearBytes: bytes(GREETING_AUTH) },
    { say: bytes([5, 0xff]) },
    HOLD,
  ]);
  const err = await failure(peer, {
    type: "socks5",
    targetHost: "127.0.0.1",
    targetPort: 80,
    username: "alice",
    password: SECRET,
  });
  assert.equal(err.kind, "proxy");
  assert.match(
    err.message,
    /accepts none of our authentication methods \(offered: none, username\/password\)$/,
  );
});

Deno.test("proxyLayer() a SOCKS5 proxy choosing a method we did not offer is kind proxy", async () => {
  // Method 1 is GSSAPI (RFC 1928 section 3), which tcpc never offers.
  await using peer = await startScripted([
    { hearBytes: bytes(GREETING) },
    { say: bytes([5, 1]) },
    HOLD,
  ]);
  const err = await failure(peer, { type: "socks5", targetHost: "127.0.0.1", targetPort: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /chose authentication method 1, which we did not offer$/);
});

Deno.test("proxyLayer() SOCKS5 sends an empty user name or password field when only one is given", async (t) => {
  // RFC 1929 request: VER 1, ULEN, UNAME, PLEN, PASSWD.
  const cases = [
    { name: "password only", extra: { password: SECRET }, auth: [1, 0, SECRET.length, SECRET] },
    { name: "user name only", extra: { username: "bob" }, auth: [1, 3, "bob", 0] },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using peer = await startScripted([
        { hearBytes: bytes(GREETING_AUTH) },
        { say: bytes([5, 2]) },
        { hearBytes: bytes(...c.auth.map((x) => typeof x === "number" ? [x] : x)) },
        { say: bytes([1, 0]) },
        { hearBytes: bytes(REQUEST_V4) },
        { say: bytes(OK_V4, "hello") },
        HOLD,
      ]);
      const conn = await run(peer, {
        type: "socks5",
        targetHost: "127.0.0.1",
        targetPort: 80,
        ...c.extra,
      });
      try {
        const buffer = new Uint8Array(5);
        assert.equal(await conn.read(buffer), 5);
        assert.equal(dec.decode(buffer), "hello");
      } finally {
        conn.close();
      }
    });
  }
});

Deno.test("proxyLayer() SOCKS5 to an IPv6 target sends address type 4 and reads an IPv6 bound address", async () => {
  const v6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
  await using peer = await startScripted([
    { hearBytes: bytes(GREETING) },
    { say: bytes([5, 0]) },
    { hearBytes: bytes([5, 1, 0, 4], v6, [0x01, 0xbb]) },
    // BND.ADDR is an IPv6 address (ATYP 4, 16 bytes), then the tunnel's first bytes.
    { say: bytes([5, 0, 0, 4], v6, [0, 1], "tunnel") },
    HOLD,
  ]);
  const conn = await run(peer, { type: "socks5", targetHost: "2001:db8::1", targetPort: 443 });
  try {
    const buffer = new Uint8Array(6);
    assert.equal(await conn.read(buffer), 6);
    assert.equal(dec.decode(buffer), "tunnel");
  } finally {
    conn.close();
  }
});

Deno.test("proxyLayer() refuses a SOCKS5 target name longer than 255 bytes (RFC 1928)", async () => {
  await using peer = await startScripted([
    { hearBytes: bytes(GREETING) },
    { say: bytes([5, 0]) },
    HOLD,
  ]);
  const long = `${"a".repeat(63)}.`.repeat(4) + "example";
  const err = await failure(peer, { type: "socks5h", targetHost: long, targetPort: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /the target's name is longer than 255 bytes \(RFC 1928\)$/);
});

Deno.test("proxyLayer() rejects an empty SOCKS5 user name before connecting anything", async () => {
  await using peer = await startScripted([HOLD]);
  await assert.rejects(
    run(peer, { type: "socks5", targetHost: "127.0.0.1", targetPort: 80, username: "" }),
    (err: unknown) => {
      assert.ok(err instanceof RangeError);
      assert.equal(err.message, "SOCKS5 username must be 1-255 bytes (RFC 1929)");
      return true;
    },
  );
});

const SOCKS5_REPLIES: [string, number[], string, RegExp][] = [
  [
    "a reply that is not SOCKS5",
    [4, 0, 0, 1],
    "proxy",
    /the proxy's reply is not SOCKS5 \(version byte 4\)$/,
  ],
  [
    "an unknown reply code",
    [5, 9, 0, 1],
    "proxy",
    /the proxy sent an unknown reply code \(SOCKS reply 9\)$/,
  ],
  ["an unknown address type", [5, 0, 0, 7], "proxy", /unknown address type 7$/],
  ["TTL expired", [5, 6, 0, 1], "timeout", /timed out \(TTL expired\) \(SOCKS reply 6\)$/],
  [
    "host unreachable",
    [5, 4, 0, 1],
    "unreachable",
    /target host is unreachable \(SOCKS reply 4\)$/,
  ],
  [
    "not allowed by its rules",
    [5, 2, 0, 1],
    "proxy",
    /do not allow this connection \(SOCKS reply 2\)$/,
  ],
];

for (const [name, reply, kind, detail] of SOCKS5_REPLIES) {
  Deno.test(`proxyLayer() SOCKS5 ${name} is kind ${kind}`, async () => {
    await using peer = await startScripted([
      { hearBytes: bytes(GREETING) },
      { say: bytes([5, 0]) },
      { hearBytes: bytes(REQUEST_V4) },
      { say: bytes(reply) },
      HOLD,
    ]);
    const err = await failure(peer, { type: "socks5", targetHost: "127.0.0.1", targetPort: 80 });
    assert.equal(err.kind, kind);
    assert.match(err.message, detail);
    assert.ok(err.message.startsWith(`connect "127.0.0.1:80" via socks5 proxy "127.0.0.1:`));
  });
}

Deno.test("proxyLayer() SOCKS4 cannot carry an IPv6 target", async () => {
  await using peer = await startScripted([HOLD]);
  const err = await failure(peer, { type: "socks4", targetHost: "::1", targetPort: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /socks4 carries only IPv4 addresses: use socks5 for IPv6$/);
});

Deno.test("proxyLayer() SOCKS4 reply codes: identd failure and an unknown code", async (t) => {
  const cases: [number, RegExp][] = [
    [92, /could not reach our identd \(SOCKS4 reply 92\)$/],
    [77, /unknown reply code \(SOCKS4 reply 77\)$/],
  ];
  for (const [code, detail] of cases) {
    await t.step(`reply ${code}`, async () => {
      await using peer = await startScripted([
        { hearBytes: bytes([4, 1, 0, 80, 127, 0, 0, 1, 0]) },
        { say: bytes([0, code, 0, 0, 0, 0, 0, 0]) },
        HOLD,
      ]);
      const err = await failure(peer, { type: "socks4", targetHost: "127.0.0.1", targetPort: 80 });
      assert.equal(err.kind, "proxy");
      assert.match(err.message, detail);
    });
  }
});

/** An HTTP proxy script: checks our request line, answers `reply`, then holds or closes. */
function httpProxy(reply: string, hold = true): ScriptAction[] {
  return [
    { hear: "CONNECT 127.0.0.1:80 HTTP/1.1" },
    { hear: "Host: 127.0.0.1:80" },
    { hear: "\r\n" },
    { say: reply },
    ...(hold ? [HOLD] : []),
  ];
}

Deno.test("proxyLayer() HTTP tunnels after the 200 head", async (t) => {
  const cases: [string, string][] = [
    ["skipping 1xx heads", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbanner"],
    ["a head ended by bare newlines (RFC 9112 section 2.2)", "HTTP/1.0 200 OK\nVia: x\n\nbanner"],
  ];
  for (const [name, reply] of cases) {
    await t.step(name, async () => {
      await using peer = await startScripted(httpProxy(reply));
      const conn = await run(peer, { type: "http", targetHost: "127.0.0.1", targetPort: 80 });
      try {
        const buffer = new Uint8Array(6);
        assert.equal(await conn.read(buffer), 6);
        assert.equal(dec.decode(buffer), "banner");
      } finally {
        conn.close();
      }
    });
  }
});

Deno.test("proxyLayer() HTTP 504 from the proxy is kind timeout", async () => {
  await using peer = await startScripted(httpProxy("HTTP/1.1 504 Gateway Timeout\r\n\r\n"));
  const err = await failure(peer, { type: "http", targetHost: "127.0.0.1", targetPort: 80 });
  assert.equal(err.kind, "timeout");
  assert.match(
    err.message,
    /timed out connecting to the target \(HTTP "HTTP\/1\.1 504 Gateway Timeout"\)$/,
  );
});

Deno.test("proxyLayer() HTTP proxy closing inside its head quotes what it sent", async () => {
  await using peer = await startScripted(httpProxy("HTTP/1.1 200 OK\r\nVia: half", false));
  const err = await failure(peer, { type: "http", targetHost: "127.0.0.1", targetPort: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(
    err.message,
    /the proxy closed the connection in its response head \("HTTP\/1\.1 200 OK\\r\\nVia: half"\)$/,
  );
});

Deno.test("proxyLayer() HTTP Basic credentials with only a user or only a password", async (t) => {
  const cases = [
    { name: "user only", extra: { username: "bob" }, token: btoa("bob:") },
    { name: "password only", extra: { password: SECRET }, token: btoa(`:${SECRET}`) },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using peer = await startScripted([
        { hear: "CONNECT 127.0.0.1:80 HTTP/1.1" },
        { hear: "Host: 127.0.0.1:80" },
        { hear: `Proxy-Authorization: Basic ${c.token}` },
        { hear: "\r\n" },
        { say: "HTTP/1.1 200 OK\r\n\r\n" },
        HOLD,
      ]);
      const conn = await run(peer, {
        type: "http",
        targetHost: "127.0.0.1",
        targetPort: 80,
        ...c.extra,
      });
      conn.close();
    });
  }
});

Deno.test("proxyLayer() a failing lookup after the abort rejects with the signal's reason", async () => {
  await using peer = await startScripted([
    { hearBytes: bytes(GREETING) },
    { say: bytes([5, 0]) },
    HOLD,
  ]);
  const controller = new AbortController();
  const reason = new Error("stopped by the user");
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: peer.port }));
  await assert.rejects(
    proxyLayer(conn, {
      type: "socks5",
      proxyAddress: `127.0.0.1:${peer.port}`,
      targetHost: "db.invalid",
      targetPort: 5432,
      signal: controller.signal,
      resolveTarget: () => {
        controller.abort(reason);
        return Promise.reject(new Error("lookup cancelled"));
      },
    }),
    (err: unknown) => err === reason,
  );
  // The layer closed the conn.
  await assert.rejects(conn.read(new Uint8Array(1)));
});

const noKill = await canKillSockets();

Deno.test({
  name: "proxyLayer() a proxy that resets the connection mid-handshake is kind proxy" +
    (noKill === null ? "" : ` (skipped: ${noKill})`),
  ignore: noKill !== null,
}, async () => {
  await using peer = startResetter(new Uint8Array());
  const err = await failure(peer, { type: "socks5", targetHost: "127.0.0.1", targetPort: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /: the proxy connection failed during the handshake: .*reset/i);
});

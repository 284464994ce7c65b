import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import { emptyFacts } from "../lib/net/conn.ts";
import { proxyLayer, type ProxyLayerOptions, type ProxyType } from "../lib/net/proxy.ts";
import { proxyHeaderLayer } from "../lib/net/proxy_header.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import {
  type ProxyPeer,
  startDanted,
  startHaproxy,
  startMicrosocks,
  startSocks4a,
  startTinyproxy,
} from "./peers/proxies.ts";
import { freePort, type Peer, startBuiltin } from "./peers/servers.ts";
import { sha256 } from "./peers/data.ts";

const SECRET = "s3cr3t-Pa55";
const CREDS = { username: "alice", password: SECRET };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function connectTo(port: number): Promise<TcpConn> {
  return new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
}

type Extra = Partial<Omit<ProxyLayerOptions, "type" | "proxyAddress">>;

/** Dials the proxy and runs the layer toward `host:port`. */
async function tunnel(
  proxy: ProxyPeer,
  type: ProxyType,
  target: { host: string; port: number },
  extra: Extra = {},
): Promise<TcpConn> {
  const conn = await connectTo(proxy.port);
  const options: ProxyLayerOptions = {
    type,
    proxyAddress: proxy.address,
    targetHost: target.host,
    targetPort: target.port,
    signal: AbortSignal.timeout(20_000),
    ...extra,
  } as ProxyLayerOptions;
  const out = await proxyLayer(conn, options);
  assert.equal(out, conn, "the layer returns the same conn");
  return conn;
}

/** Reads until `n` bytes arrived (or EOF), bounded by a deadline. */
async function readN(conn: TcpConn, n: number, ms = 20_000): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(n);
  let got = 0;
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (got < n) {
      const read = await conn.read(out.subarray(got));
      if (read === null) break;
      got += read;
    }
  } finally {
    clearTimeout(timer);
  }
  return out.subarray(0, got);
}

async function echoRoundTrip(conn: TcpConn, text: string): Promise<string> {
  await conn.write(encoder.encode(text));
  return decoder.decode(await readN(conn, encoder.encode(text).length));
}

/** Expects the layer to fail; returns the error after common checks. */
async function layerError(
  proxy: ProxyPeer,
  type: ProxyType,
  target: { host: string; port: number },
  extra: Extra = {},
): Promise<NetError> {
  const conn = await connectTo(proxy.port);
  try {
    await proxyLayer(conn, {
      type,
      proxyAddress: proxy.address,
      targetHost: target.host,
      targetPort: target.port,
      signal: AbortSignal.timeout(20_000),
      ...extra,
    } as ProxyLayerOptions);
  } catch (err) {
    assert.ok(err instanceof NetError, String(err));
    assert.equal(err.op, "proxy");
    assert.equal(err.address, proxy.address);
    assert.ok(!err.message.includes(SECRET), err.message);
    assert.ok(!err.message.includes("\n"), err.message);
    assert.ok(err.message.includes(`proxy "${proxy.address}"`), err.message);
    return err;
  } finally {
    conn.close();
  }
  assert.fail("the layer should have failed");
}

interface Case {
  name: string;
  type: ProxyType;
  start: () => Promise<ProxyPeer>;
  host?: string;
  extra?: Extra;
}

const ROUND_TRIPS: Case[] = [
  { name: "socks5 (microsocks)", type: "socks5", start: () => startMicrosocks() },
  {
    name: "socks5 with username/password (microsocks -u/-P)",
    type: "socks5",
    start: () => startMicrosocks(CREDS),
    extra: CREDS,
  },
  {
    name: "socks5 resolving localhost ourselves (microsocks)",
    type: "socks5",
    start: () => startMicrosocks(),
    host: "localhost",
  },
  {
    name: "socks5h, the proxy resolves localhost (microsocks)",
    type: "socks5h",
    start: () => startMicrosocks(),
    host: "localhost",
  },
  { name: "socks5 (danted)", type: "socks5", start: startDanted },
  { name: "socks5h (danted)", type: "socks5h", start: startDanted, host: "localhost" },
  { name: "socks4 (danted)", type: "socks4", start: startDanted },
  {
    name: "socks4 resolving localhost ourselves (danted)",
    type: "socks4",
    start: startDanted,
    host: "localhost",
  },
  { name: "socks4 (IO::Socket::Socks)", type: "socks4", start: () => startSocks4a() },
  {
    name: "socks4a, the proxy resolves localhost (IO::Socket::Socks)",
    type: "socks4a",
    start: () => startSocks4a(),
    host: "localhost",
  },
  {
    name: "socks4a with a user id (IO::Socket::Socks)",
    type: "socks4a",
    start: () => startSocks4a("bob"),
    host: "localhost",
    extra: { username: "bob" },
  },
  { name: "http CONNECT (tinyproxy)", type: "http", start: () => startTinyproxy() },
  {
    name: "http CONNECT with Basic auth (tinyproxy BasicAuth)",
    type: "http",
    start: () => startTinyproxy(CREDS),
    extra: CREDS,
  },
  {
    name: "http CONNECT, the proxy resolves localhost (tinyproxy)",
    type: "http",
    start: () => startTinyproxy(),
    host: "localhost",
  },
];

for (const c of ROUND_TRIPS) {
  Deno.test(`proxyLayer() round trip through ${c.name}`, async () => {
    await using target = await startBuiltin("echo");
    await using proxy = await c.start();
    const conn = await tunnel(proxy, c.type, { host: c.host ?? "127.0.0.1", port: target.port }, {
      ...c.extra,
      resolveTarget: c.type === "socks5h" || c.type === "socks4a" || c.type === "http"
        ? () => Promise.reject(new Error("must not resolve: the proxy does"))
        : undefined,
    } as Extra);
    try {
      assert.deepEqual(conn.facts.proxy, { type: c.type, address: proxy.address });
      assert.ok(!JSON.stringify(conn.facts).includes(SECRET));
      assert.equal(
        await echoRoundTrip(conn, "PING through the proxy\r\n"),
        "PING through the proxy\r\n",
      );
      assert.equal(await echoRoundTrip(conn, "second\n"), "second\n");
    } finally {
      conn.close();
    }
  });
}

Deno.test("proxyLayer() uses resolveTarget for socks5 and socks4 names", async () => {
  await using target = await startBuiltin("echo");
  await using proxy = await startDanted();
  for (const type of ["socks5", "socks4"] as const) {
    const asked: string[] = [];
    const conn = await tunnel(proxy, type, { host: "db.internal", port: target.port }, {
      resolveTarget: (host) => {
        asked.push(host);
        return Promise.resolve("127.0.0.1");
      },
    });
    try {
      assert.deepEqual(asked, ["db.internal"]);
      assert.equal(await echoRoundTrip(conn, "x"), "x");
    } finally {
      conn.close();
    }
  }
});

Deno.test("proxyLayer() reports our own failed lookup as kind dns", async () => {
  await using proxy = await startMicrosocks();
  const err = await layerError(proxy, "socks5", { host: "db.internal", port: 5432 }, {
    resolveTarget: () =>
      Promise.reject(Object.assign(new Error("getaddrinfo ENOTFOUND"), { code: "ENOTFOUND" })),
  });
  assert.equal(err.kind, "dns");
  assert.match(err.message, /^connect "db\.internal:5432" via socks5 proxy "[^"]+": our lookup/);
});

for (
  const [name, type, start] of [
    ["socks5 (danted)", "socks5", startDanted],
    ["http CONNECT (tinyproxy)", "http", () => startTinyproxy()],
  ] as const
) {
  Deno.test(`proxyLayer() carries 64 MiB sha256-identical through ${name}`, async () => {
    await using target = await startBuiltin("echo");
    await using proxy = await start();
    const size = 64 * 1024 * 1024;
    const data = new Uint8Array(size);
    // A pattern that is not periodic at any small period.
    let x = 0x12345678;
    for (let i = 0; i < size; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x;
      data[i + 1] = x >>> 8;
      data[i + 2] = x >>> 16;
      data[i + 3] = x >>> 24;
    }
    const conn = await tunnel(proxy, type, { host: "127.0.0.1", port: target.port });
    try {
      // Write and read at once: the echo would otherwise fill both directions and stall.
      const writing = (async () => {
        for (let offset = 0; offset < size; offset += 1 << 20) {
          await conn.write(data.subarray(offset, offset + (1 << 20)));
        }
      })();
      const [back] = await Promise.all([readN(conn, size, 120_000), writing]);
      assert.equal(back.length, size);
      assert.equal(await sha256(back), await sha256(data));
    } finally {
      conn.close();
    }
  });
}

Deno.test("proxyLayer() wrong SOCKS5 password is kind proxy and never shows the password", async () => {
  await using proxy = await startMicrosocks(CREDS);
  const err = await layerError(proxy, "socks5", { host: "127.0.0.1", port: 9 }, {
    username: "alice",
    password: SECRET + "x",
  });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /rejected the username and password \(RFC 1929 status \d+\)/);
  assert.ok(!err.message.includes(SECRET + "x"));
});

Deno.test("proxyLayer() no credentials for an authenticating SOCKS5 proxy is kind proxy", async () => {
  await using proxy = await startMicrosocks(CREDS);
  const err = await layerError(proxy, "socks5", { host: "127.0.0.1", port: 9 });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /requires authentication/);
});

Deno.test("proxyLayer() wrong HTTP Basic password is kind proxy, quoting the 401 or 407", async () => {
  await using proxy = await startTinyproxy(CREDS);
  for (const extra of [{ username: "alice", password: "nope" + SECRET }, {}]) {
    const err = await layerError(proxy, "http", { host: "127.0.0.1", port: 9 }, extra);
    assert.equal(err.kind, "proxy");
    assert.match(err.message, /credentials \(HTTP "HTTP\/1\.[01] 40[17] [^"]*"\)$/);
    assert.ok(!err.message.includes("nope"));
  }
});

Deno.test("proxyLayer() wrong SOCKS4 user id is kind proxy (reply 93)", async () => {
  await using proxy = await startSocks4a("bob");
  const err = await layerError(proxy, "socks4a", { host: "localhost", port: 9 }, {
    username: "mallory",
  });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /SOCKS4 reply 93/);
});

const REFUSED: [string, ProxyType, () => Promise<ProxyPeer>, string, RegExp][] = [
  ["microsocks", "socks5", () => startMicrosocks(), "refused", /SOCKS reply 5\)$/],
  ["danted", "socks5", startDanted, "refused", /SOCKS reply 5\)$/],
  ["danted", "socks4", startDanted, "refused", /SOCKS4 reply 91: ambiguous\)$/],
  ["IO::Socket::Socks", "socks4a", () => startSocks4a(), "refused", /SOCKS4 reply 91/],
  ["tinyproxy", "http", () => startTinyproxy(), "unreachable", /HTTP "HTTP\/1\.[01] 500 /],
];

for (const [name, type, start, kind, detail] of REFUSED) {
  Deno.test(`proxyLayer() target refused via ${type} (${name}) is kind ${kind}`, async () => {
    await using proxy = await start();
    const port = freePort();
    const err = await layerError(proxy, type, { host: "127.0.0.1", port });
    assert.equal(err.kind, kind);
    assert.ok(
      err.message.startsWith(
        `connect "127.0.0.1:${port}" via ${
          type === "http" ? "HTTP" : type
        } proxy "${proxy.address}": `,
      ),
      err.message,
    );
    assert.match(err.message, detail);
  });
}

/** A fake proxy that answers each connection with `reply` and keeps it open. */
function fakeProxy(reply: Uint8Array | null): Peer & { address: string } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns: Deno.Conn[] = [];
  const running = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      // Read the request first so that our reply is not taken for a reset.
      await conn.read(new Uint8Array(1024)).catch(() => null);
      if (reply !== null) await conn.write(reply).catch(() => 0);
    }
  })();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    listener.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await running.catch(() => {});
  };
  return { port, address: `127.0.0.1:${port}`, stop, [Symbol.asyncDispose]: stop };
}

Deno.test("proxyLayer() HTTP leaves the bytes after the blank line in the socket", async () => {
  await using proxy = fakeProxy(
    encoder.encode("HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nSSH-2.0-banner\r\n"),
  );
  const conn = await tunnel(proxy, "http", { host: "example.test", port: 22 });
  try {
    assert.equal(decoder.decode(await readN(conn, 16)), "SSH-2.0-banner\r\n");
  } finally {
    conn.close();
  }
});

Deno.test("proxyLayer() SOCKS5 leaves the bytes after the reply in the socket", async () => {
  // Method reply and CONNECT reply (a domain BND.ADDR) and a banner, in one write.
  const reply = new Uint8Array([5, 0, 5, 0, 0, 3, 4, ...encoder.encode("host"), 0, 80]);
  await using proxy = fakeProxy(new Uint8Array([...reply, ...encoder.encode("BANNER")]));
  const conn = await tunnel(proxy, "socks5h", { host: "example.test", port: 80 });
  try {
    assert.equal(decoder.decode(await readN(conn, 6)), "BANNER");
  } finally {
    conn.close();
  }
});

const GARBAGE: [string, ProxyType, string, RegExp][] = [
  [
    "an HTTP answer to socks5",
    "socks5",
    "HTTP/1.1 400 Bad\r\n\r\n",
    /not answer as a SOCKS5 proxy/,
  ],
  [
    "an SSH banner to http",
    "http",
    "SSH-2.0-x\r\n\r\n",
    /did not answer as an HTTP proxy \("SSH-2\.0-x"\)/,
  ],
  [
    "a terminal escape in the status line",
    "http",
    "HTTP/1.1 403 \x1b[2JForbidden\r\n\r\n",
    /kind|\(HTTP "HTTP\/1\.1 403 \\x1b\[2JForbidden"\)$/,
  ],
  ["a SOCKS4 reply with a bad version", "socks4", "\x05\x5a\0\0\0\0\0\0", /not SOCKS4/],
];

for (const [name, type, reply, detail] of GARBAGE) {
  Deno.test(`proxyLayer() ${name} is kind proxy`, async () => {
    await using proxy = fakeProxy(encoder.encode(reply));
    const err = await layerError(proxy, type, { host: "127.0.0.1", port: 80 });
    assert.equal(err.kind, "proxy");
    assert.match(err.message, detail);
    assert.ok(!err.message.includes("\x1b"));
  });
}

Deno.test("proxyLayer() a proxy that closes without answering is kind proxy", async () => {
  await using proxy = fakeProxy(new Uint8Array());
  // The fake keeps the conn open after an empty write: close it from its side by stopping.
  const conn = await connectTo(proxy.port);
  const failing = proxyLayer(conn, {
    type: "http",
    proxyAddress: proxy.address,
    targetHost: "127.0.0.1",
    targetPort: 80,
    signal: AbortSignal.timeout(20_000),
  });
  await proxy.stop();
  await assert.rejects(failing, (err: unknown) => {
    assert.ok(err instanceof NetError);
    assert.equal(err.kind, "proxy");
    assert.match(err.message, /closed the connection without answering|handshake/);
    return true;
  });
});

Deno.test("proxyLayer() an endless HTTP head stops at MAX_HTTP_HEAD", async () => {
  await using proxy = fakeProxy(encoder.encode("HTTP/1.1 200 OK\r\nX: " + "a".repeat(20_000)));
  const err = await layerError(proxy, "http", { host: "127.0.0.1", port: 80 });
  assert.equal(err.kind, "proxy");
  assert.match(err.message, /longer than 16384 bytes/);
});

Deno.test("proxyLayer() abort closes the conn and rejects with the signal's reason", async () => {
  await using proxy = fakeProxy(null);
  const conn = await connectTo(proxy.port);
  const controller = new AbortController();
  const reason = new Error("stop now");
  const running = proxyLayer(conn, {
    type: "socks5",
    proxyAddress: proxy.address,
    targetHost: "127.0.0.1",
    targetPort: 80,
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(reason), 50);
  await assert.rejects(running, (err: unknown) => err === reason);
  await assert.rejects(conn.read(new Uint8Array(1)));
});

Deno.test("proxyLayer() an already aborted signal closes the conn at once", async () => {
  await using proxy = fakeProxy(null);
  const conn = await connectTo(proxy.port);
  const signal = AbortSignal.abort(new DOMException("late", "TimeoutError"));
  await assert.rejects(
    proxyLayer(conn, {
      type: "http",
      proxyAddress: proxy.address,
      targetHost: "a",
      targetPort: 1,
      signal,
    }),
    (err: unknown) => err instanceof DOMException && err.name === "TimeoutError",
  );
  await assert.rejects(conn.read(new Uint8Array(1)));
});

Deno.test("proxyLayer() refuses a password for socks4 and bad ports before writing", async () => {
  const facts = emptyFacts();
  const conn = {
    facts,
    localAddress: "",
    remoteAddress: "",
    read: () => Promise.reject(new Error("no read")),
    write: () => Promise.reject(new Error("no write")),
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  const base = { proxyAddress: "127.0.0.1:1", targetHost: "a" };
  await assert.rejects(
    proxyLayer(conn, { ...base, type: "socks4", targetPort: 1, username: "u", password: SECRET }),
    RangeError,
  );
  await assert.rejects(proxyLayer(conn, { ...base, type: "http", targetPort: 0 }), RangeError);
  assert.equal(facts.proxy, null);
});

for (const version of [1, 2] as const) {
  Deno.test(`proxyHeaderLayer() v${version} through haproxy accept-proxy: the backend sees our source`, async () => {
    await using backend = await startBuiltin("echo");
    await using haproxy = await startHaproxy(backend.port);
    const conn = await connectTo(haproxy.port);
    try {
      assert.equal(
        await proxyHeaderLayer(conn, { version, signal: AbortSignal.timeout(10_000) }),
        conn,
      );
      await conn.write(encoder.encode("hello\n"));
      const [ip, port] = [conn.raw.localAddr.hostname, conn.raw.localAddr.port];
      const expected = `PROXY TCP4 ${ip} 127.0.0.1 ${port} ${haproxy.port}\r\nhello\n`;
      assert.equal(decoder.decode(await readN(conn, encoder.encode(expected).length)), expected);
    } finally {
      conn.close();
    }
  });
}

Deno.test("proxyHeaderLayer() announces a source we give", async () => {
  await using backend = await startBuiltin("echo");
  await using haproxy = await startHaproxy(backend.port);
  const conn = await connectTo(haproxy.port);
  try {
    await proxyHeaderLayer(conn, {
      version: 2,
      source: { address: "192.0.2.7", port: 4242 },
      destination: { address: "198.51.100.9", port: 443 },
    });
    await conn.write(encoder.encode("x"));
    const expected = "PROXY TCP4 192.0.2.7 198.51.100.9 4242 443\r\nx";
    assert.equal(decoder.decode(await readN(conn, expected.length)), expected);
  } finally {
    conn.close();
  }
});

/**
 * Half-close through each proxy (measured: 10 of 10 trials each, an echo target):
 * danted, haproxy and IO::Socket::Socks pass our FIN on and the reply comes
 * back; microsocks and tinyproxy tear the tunnel down on it, and the client
 * reads a clean EOF with no reply. This pins that behaviour, which tcpc's
 * connect must work around; if a proxy changes, this test says so.
 */
const HALF_CLOSE: [string, ProxyType | "haproxy", (echo: number) => Promise<ProxyPeer>, boolean][] =
  [
    ["danted", "socks5", () => startDanted(), true],
    ["IO::Socket::Socks", "socks4a", () => startSocks4a(), true],
    ["haproxy", "haproxy", (echo) => startHaproxy(echo), true],
    ["microsocks", "socks5", () => startMicrosocks(), false],
    ["tinyproxy", "http", () => startTinyproxy(), false],
  ];

for (const [name, type, start, passesOn] of HALF_CLOSE) {
  Deno.test(
    `half-close through ${name} ${
      passesOn ? "is passed on" : "loses the reply (characterization)"
    }`,
    async () => {
      await using target = await startBuiltin("echo");
      await using proxy = await start(target.port);
      const conn = type === "haproxy"
        ? await proxyHeaderLayer(await connectTo(proxy.port), { version: 1 }) as TcpConn
        : await tunnel(proxy, type, { host: "127.0.0.1", port: target.port });
      try {
        await conn.write(encoder.encode("PING\r\n"));
        await conn.closeWrite();
        const got = decoder.decode(await readN(conn, 1024)).replace(/^PROXY [^\n]*\n/, "");
        assert.equal(got, passesOn ? "PING\r\n" : "");
      } finally {
        conn.close();
      }
    },
  );
}

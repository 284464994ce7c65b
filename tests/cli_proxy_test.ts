/**
 * `tcpc HOST PORT --proxy URL`, `--proxy-protocol`, `-s` and `-p` end to end:
 * the real CLI (`deno run -P main.ts`) through real proxies on loopback
 * (microsocks, danted, tinyproxy, a Perl SOCKS4a server, haproxy).
 *
 * Through a proxy tcpc does not half-close on stdin EOF (microsocks and
 * tinyproxy drop the tunnel on our FIN), so runs that send and then wait for a
 * reply from a server that stays open give `-q`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";
import {
  type ProxyPeer,
  startDanted,
  startHaproxy,
  startMicrosocks,
  startSocks4a,
  startTinyproxy,
} from "./peers/proxies.ts";
import { freePort, type Peer, startBuiltin } from "./peers/servers.ts";
import { makeTlsFixtures, startOpensslServer, startSocatTls } from "./peers/tls.ts";
import { randomBytes, sha256 } from "./peers/data.ts";

/** The one JSON record on stdout. */
// deno-lint-ignore no-explicit-any
function record(out: string): any {
  const lines = out.split("\n");
  assert.equal(lines.length, 2, `one JSON line expected: ${JSON.stringify(out)}`);
  return JSON.parse(lines[0] ?? "");
}

/** A listener of ours that counts connections and tells each client its address, then closes. */
function addressTeller(hostname = "127.0.0.1") {
  const listener = Deno.listen({ hostname, port: 0 });
  let accepted = 0;
  const seen: string[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      const { hostname: h, port } = conn.remoteAddr as Deno.NetAddr;
      seen.push(`${h}:${port}`);
      await conn.write(new TextEncoder().encode(`${h}:${port}\n`)).catch(() => 0);
      conn.close();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    seen,
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop;
    },
  };
}

interface Kind {
  scheme: string;
  start: () => Promise<ProxyPeer>;
  /** The target host to name (a name for the schemes where the proxy resolves). */
  host: string;
}

const KINDS: Kind[] = [
  { scheme: "socks5", start: () => startMicrosocks(), host: "127.0.0.1" },
  { scheme: "socks5h", start: () => startMicrosocks(), host: "localhost" },
  { scheme: "socks4", start: () => startDanted(), host: "127.0.0.1" },
  { scheme: "socks4a", start: () => startSocks4a(), host: "localhost" },
  { scheme: "http", start: () => startTinyproxy(), host: "localhost" },
];

for (const kind of KINDS) {
  Deno.test(`tcpc --proxy ${kind.scheme}:// round trip, JSON proxy and proxyMs`, async () => {
    await using echo = await startBuiltin("echo");
    await using proxy = await kind.start();
    const r = await runCli(
      [
        kind.host,
        String(echo.port),
        "--proxy",
        `${kind.scheme}://${proxy.address}`,
        "-q",
        "1s",
        "-w",
        "5s",
        "--json",
      ],
      { stdin: "PING\r\n" },
    );
    assert.equal(r.code, 0, r.err);
    const rec = record(r.out);
    assert.deepEqual(rec.data, { text: "PING\r\n" });
    assert.deepEqual(rec.proxy, { type: kind.scheme, address: proxy.address });
    assert.equal(rec.remote, proxy.address);
    assert.ok(rec.timings.proxyMs > 0, `proxyMs ${rec.timings.proxyMs}`);
    assert.ok(rec.timings.proxyMs >= rec.timings.connectMs);
    assert.equal(rec.close, "local");
  });
}

for (const kind of KINDS.filter((k) => k.host === "localhost")) {
  Deno.test(`tcpc --proxy ${kind.scheme}:// leaves the name to the proxy`, async () => {
    // The sandbox allows only the proxy's address: a lookup or a connect of
    // "localhost" by tcpc itself would be denied (exit 5).
    await using teller = addressTeller();
    await using proxy = await kind.start();
    const args = ["localhost", String(teller.port), "--proxy", `${kind.scheme}://${proxy.address}`];
    const permissions = [
      `--allow-net=${proxy.address}`,
      "--allow-read",
      "--allow-run=sysctl",
      "--no-prompt",
    ];
    const r = await runCli([...args, "-w", "5s"], { permissions });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^127\.0\.0\.1:\d+\n$/);
    assert.equal(teller.accepted(), 1);
    // socks5 (local resolution) in the same sandbox needs "localhost" itself.
    if (kind.scheme === "socks5h") {
      const local = await runCli(
        ["localhost", String(teller.port), "--proxy", `socks5://${proxy.address}`, "-w", "5s"],
        { permissions },
      );
      assert.equal(local.code, 5, local.err);
    }
  });
}

for (
  const [name, start] of [
    ["socks5 (danted)", startDanted],
    ["http (tinyproxy)", startTinyproxy],
  ] as const
) {
  Deno.test(`tcpc moves 64 MiB sha256-identical through ${name}`, async () => {
    await using echo = await startBuiltin("echo");
    await using proxy = await start();
    const scheme = name.split(" ")[0]!;
    const data = randomBytes(64 * 1024 * 1024);
    // No half-close through a proxy: --max-bytes ends the run once all came back.
    const r = await runCli(
      [
        "127.0.0.1",
        String(echo.port),
        "--proxy",
        `${scheme}://${proxy.address}`,
        "--max-bytes",
        String(data.length),
        "-w",
        "5s",
        "-i",
        "20s",
      ],
      { stdin: data, killAfterMs: 120_000 },
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(r.stdout.length, data.length);
    assert.equal(await sha256(r.stdout), await sha256(data));
  });
}

const SECRET = "pa55-Wr0ng-s3cret";

Deno.test("tcpc wrong proxy credentials exit 8 and never show the password", async (t) => {
  await using echo = await startBuiltin("echo");
  await using socks = await startMicrosocks({ username: "alice", password: "right-one" });
  await using http = await startTinyproxy({ username: "alice", password: "right-one" });
  const cases: [string, string[]][] = [
    ["socks5 URL", ["--proxy", `socks5://alice:${SECRET}@${socks.address}`]],
    ["socks5 --proxy-auth", [
      "--proxy",
      `socks5://${socks.address}`,
      "--proxy-auth",
      `alice:${SECRET}`,
    ]],
    ["socks5 no credentials", ["--proxy", `socks5://${socks.address}`]],
    ["http URL", ["--proxy", `http://alice:${SECRET}@${http.address}`]],
    ["http --proxy-auth", ["--proxy", `http://${http.address}`, "--proxy-auth", `alice:${SECRET}`]],
  ];
  for (const [name, flags] of cases) {
    await t.step(name, async () => {
      const base = ["127.0.0.1", String(echo.port), ...flags, "-w", "5s"];
      for (const extra of [["-vv"], ["--json", "-v"]]) {
        const r = await runCli([...base, ...extra]);
        assert.equal(r.code, 8, r.err);
        assert.ok(!r.err.includes(SECRET), r.err);
        assert.ok(!r.out.includes(SECRET), r.out);
        assert.match(r.err, /proxy/);
        if (extra.includes("--json")) {
          const rec = record(r.out);
          assert.equal(rec.error.kind, "proxy");
          assert.match(rec.error.message, /rejected|authentication|407|401|credentials/i);
        }
      }
    });
  }
});

Deno.test("tcpc exits 8 when nothing listens at the proxy", async () => {
  await using echo = await startBuiltin("echo");
  const port = freePort();
  for (const scheme of ["socks5", "socks4", "http"]) {
    const r = await runCli([
      "127.0.0.1",
      String(echo.port),
      "--proxy",
      `${scheme}://127.0.0.1:${port}`,
      "-w",
      "5s",
      "--json",
    ]);
    assert.equal(r.code, 8, r.err);
    const rec = record(r.out);
    assert.equal(rec.error.kind, "proxy");
    assert.match(rec.error.message, new RegExp(`cannot reach the ${scheme} proxy`, "i"));
    assert.match(r.err, new RegExp(`127\\.0\\.0\\.1:${port}`));
  }
});

Deno.test("tcpc target refused via each proxy exits 1 naming the proxy", async (t) => {
  const closed = freePort();
  for (const kind of KINDS) {
    await t.step(kind.scheme, async () => {
      await using proxy = await kind.start();
      const r = await runCli([
        "127.0.0.1",
        String(closed),
        "--proxy",
        `${kind.scheme}://${proxy.address}`,
        "-w",
        "5s",
        "--json",
      ]);
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /proxy/);
      assert.match(r.err, new RegExp(`"127\\.0\\.0\\.1:${closed}" via`));
      // An HTTP proxy's 5xx does not say why the target failed: unreachable (also exit 1).
      const kinds = kind.scheme === "http" ? ["unreachable"] : ["refused"];
      assert.ok(kinds.includes(record(r.out).error.kind), record(r.out).error.kind);
    });
  }
});

Deno.test("tcpc --tls through SOCKS5 and HTTP CONNECT sends SNI = the target name", async (t) => {
  await using fx = await makeTlsFixtures();
  // s_server answers with the wrong-name certificate unless SNI is "localhost".
  const server: Peer = await startOpensslServer({
    cert: fx.wrongName.cert,
    key: fx.wrongName.key,
    sni: { name: "localhost", cert: fx.good.cert, key: fx.good.key },
  });
  await using _server = server;
  for (const [scheme, start] of [["socks5", startDanted], ["http", startTinyproxy]] as const) {
    await t.step(scheme, async () => {
      await using proxy = await start();
      const r = await runCli([
        "localhost",
        String(server.port),
        "--proxy",
        `${scheme}://${proxy.address}`,
        "--tls",
        "--cacert",
        fx.ca.cert,
        "-d",
        "GET / HTTP/1.0\\r\\n\\r\\n",
        "-q",
        "3s",
        "-w",
        "5s",
        "--json",
      ]);
      assert.equal(r.code, 0, r.err);
      const rec = record(r.out);
      assert.equal(rec.tls.verified, true);
      assert.deepEqual(rec.tls.certificate.subjectAltNames, ["localhost", "127.0.0.1"]);
      assert.ok(rec.timings.proxyMs > 0 && rec.timings.tlsMs > 0);
      assert.match(rec.data.text, /^HTTP\/1\.0 200 ok/);
    });
  }
  // And the SNI check itself: another name gets the other certificate.
  const direct = await runCli(
    ["127.0.0.1", String(server.port), "--tls", "--cacert", fx.ca.cert, "--sni", "x.example"],
  );
  assert.equal(direct.code, 7, direct.err);
  assert.match(direct.err, /wrong\.example/);
});

Deno.test("tcpc over TLS through a proxy: socat TLS echo round trip", async () => {
  await using fx = await makeTlsFixtures();
  await using tlsEcho = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  await using proxy = await startTinyproxy();
  const r = await runCli([
    "localhost",
    String(tlsEcho.port),
    "--proxy",
    `http://${proxy.address}`,
    "--tls",
    "--cacert",
    fx.ca.cert,
    "-d",
    "over tls\\n",
    "-q",
    "2s",
    "-w",
    "5s",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "over tls\n");
});

for (const version of ["v1", "v2"]) {
  Deno.test(`tcpc --proxy-protocol ${version} through haproxy: the backend sees our addresses`, async () => {
    await using echo = await startBuiltin("echo");
    await using haproxy = await startHaproxy(echo.port);
    const r = await runCli(
      ["127.0.0.1", String(haproxy.port), "--proxy-protocol", version, "-w", "5s", "--json"],
      { stdin: "hello\n" },
    );
    assert.equal(r.code, 0, r.err);
    const rec = record(r.out);
    const localPort = rec.local.split(":")[1];
    // haproxy re-announces (send-proxy, v1) the source it parsed from our header.
    assert.equal(
      rec.data.text,
      `PROXY TCP4 127.0.0.1 127.0.0.1 ${localPort} ${haproxy.port}\r\nhello\n`,
    );
    // Without the header haproxy drops the connection.
    const bare = await runCli(["127.0.0.1", String(haproxy.port), "-w", "5s"], {
      stdin: "hello\n",
    });
    assert.equal(bare.out, "");
  });
}

Deno.test("tcpc -s 127.0.0.2 and -p PORT: the server sees that source", async () => {
  await using teller = addressTeller();
  const r = await runCli(["127.0.0.1", String(teller.port), "-s", "127.0.0.2", "-w", "5s"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^127\.0\.0\.2:\d+\n$/);
  const port = freePort();
  const p = await runCli(
    ["127.0.0.1", String(teller.port), "-s", "127.0.0.2", "-p", String(port), "--json"],
  );
  assert.equal(p.code, 0, p.err);
  assert.deepEqual(record(p.out).data, { text: `127.0.0.2:${port}\n` });
  assert.equal(record(p.out).local, `127.0.0.2:${port}`);
  const only = await runCli(["127.0.0.1", String(teller.port), "-s", "127.0.0.1"]);
  assert.equal(only.code, 0, only.err);
  assert.match(only.out, /^127\.0\.0\.1:\d+\n$/);
  assert.equal(teller.accepted(), 3);
});

Deno.test("tcpc -s with an address this host lacks fails at bind, before any packet", async () => {
  await using teller = addressTeller();
  const r = await runCli(["127.0.0.1", String(teller.port), "-s", "192.0.2.1", "--json"]);
  assert.equal(r.code, 1, r.err);
  assert.equal(
    r.err,
    'tcpc: bind "192.0.2.1": source address "192.0.2.1" is not an address of this host ' +
      "(EADDRNOTAVAIL)\n",
  );
  const rec = record(r.out);
  assert.equal(rec.remote, null);
  assert.equal(rec.timings.connectMs, null);
  // bind(2) comes before connect(2): our listener never saw a SYN.
  assert.equal(teller.accepted(), 0);
});

Deno.test("tcpc -p with a port a listener holds says EADDRINUSE", async () => {
  await using teller = addressTeller();
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    for (const source of [["-s", "127.0.0.1", "-p", String(port)], ["-p", String(port)]]) {
      const r = await runCli(["127.0.0.1", String(teller.port), ...source]);
      assert.equal(r.code, 1, r.err);
      assert.match(
        r.err,
        new RegExp(
          `^tcpc: bind "[0-9.]+:${port}": source port ${port} is already in use \\(EADDRINUSE\\)\\n$`,
        ),
      );
    }
  } finally {
    held.close();
  }
  assert.equal(teller.accepted(), 0);
});

for (
  const [name, start] of [
    ["microsocks (drops the tunnel on FIN)", startMicrosocks],
    ["danted (passes FIN on)", startDanted],
  ] as const
) {
  Deno.test(`tcpc through ${name}: no half-close on EOF, the reply arrives with -q`, async () => {
    await using echo = await startBuiltin("echo");
    await using proxy = await start();
    const r = await runCli(
      [
        "127.0.0.1",
        String(echo.port),
        "--proxy",
        `socks5://${proxy.address}`,
        "-q",
        "1s",
        "-vv",
      ],
      { stdin: "PING\r\n" },
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "PING\r\n");
    assert.match(r.err, /input ended: no half-close through a proxy/);
    assert.doesNotMatch(r.err, /shutdown SHUT_WR/);
    // The echo server stays open: -q ended the run.
    assert.match(r.err, /closed \(local\)/);
  });
}

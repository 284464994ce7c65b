import assert from "node:assert/strict";
import { NetError, UsageError } from "../lib/errors.ts";
import type { ParsedArgs } from "../lib/cli/args.ts";
import {
  isPlainRoute,
  routeDialer,
  type RoutePlan,
  routePlan,
  stackOptions,
} from "../lib/cli/route.ts";
import type { Conn } from "../lib/net/conn.ts";
import { TlsError } from "../lib/net/tls_error.ts";
import { dialStack } from "../lib/net/stack.ts";
import { startMicrosocks } from "./peers/proxies.ts";
import { startScripted } from "./peers/scripted.ts";
import { startBuiltin } from "./peers/servers.ts";
import { makeTlsFixtures, startOpensslServer, startStartTlsServer } from "./peers/tls.ts";

const fx = await makeTlsFixtures();
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const PLAIN: RoutePlan = { proxy: null, proxyProtocol: null, source: null, tls: null };

function args(values: ParsedArgs["values"]): ParsedArgs {
  return { values, positionals: [] };
}

async function readSome(conn: Conn): Promise<string> {
  const buffer = new Uint8Array(200);
  const n = await conn.read(buffer);
  return decoder.decode(buffer.subarray(0, n ?? 0));
}

Deno.test("routePlan() names the flag of each bad route value", async (t) => {
  const cases: [string, ParsedArgs["values"], string][] = [
    [
      "a name as --source",
      { source: "localhost" },
      `invalid --source "localhost": must be an IP address of this host`,
    ],
    [
      "--source-port 0",
      { "source-port": "0" },
      `invalid --source-port "0": must be a number from 1 to 65535`,
    ],
    [
      "--source-port with --proxy",
      { "source-port": "4000", proxy: "socks5://127.0.0.1:1080" },
      "conflicting flags --source-port and --proxy: give only one",
    ],
    ["--proxy-auth alone", { "proxy-auth": "u:p" }, "--proxy-auth needs --proxy"],
    [
      "--proxy-protocol v3",
      { "proxy-protocol": "v3" },
      `invalid --proxy-protocol "v3": use v1 or v2`,
    ],
    ["--sni without TLS", { sni: "example.com" }, "--sni needs --tls (or --starttls)"],
  ];
  for (const [name, values, message] of cases) {
    await t.step(name, async () => {
      await assert.rejects(routePlan(args(values), { host: "127.0.0.1" }), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.equal(err.message, message);
        return true;
      });
    });
  }
  await t.step("a bad --source host names --source", async () => {
    await assert.rejects(
      routePlan(args({ source: "1.2.3.4/8" }), { host: "127.0.0.1" }),
      (err: unknown) =>
        err instanceof UsageError && /^invalid --source "1\.2\.3\.4\/8": /.test(err.message),
    );
  });
});

Deno.test("routePlan() reads every route flag, and nothing when none is given", async () => {
  assert.deepEqual(await routePlan(args({}), { host: "example.com" }), PLAIN);
  const plan = await routePlan(
    args({
      proxy: "socks5://127.0.0.1:1081",
      "proxy-protocol": "v2",
      source: "127.0.0.2",
      starttls: "smtp",
    }),
    { host: "mail.example" },
  );
  assert.equal(plan.proxy?.type, "socks5");
  assert.equal(plan.proxy?.address, "127.0.0.1:1081");
  assert.equal(plan.proxyProtocol, 2);
  // A source address (no port) goes with a proxy: it binds the socket to the proxy.
  assert.deepEqual(plan.source, { address: "127.0.0.2" });
  assert.equal(plan.tls?.starttls, "smtp");
  assert.equal(plan.tls?.servername, "mail.example");
  assert.equal(isPlainRoute(plan), false);
  assert.deepEqual((await routePlan(args({ "source-port": "4000" }), { host: "h" })).source, {
    port: 4000,
  });
});

Deno.test("isPlainRoute() is false as soon as one part of the route is set", async () => {
  assert.equal(isPlainRoute(PLAIN), true);
  const proxy = (await routePlan(args({ proxy: "http://127.0.0.1:3128" }), { host: "h" })).proxy;
  assert.equal(isPlainRoute({ ...PLAIN, proxy }), false);
  assert.equal(isPlainRoute({ ...PLAIN, proxyProtocol: 1 }), false);
  assert.equal(isPlainRoute({ ...PLAIN, source: { address: "127.0.0.1" } }), false);
  assert.equal(isPlainRoute({ ...PLAIN, tls: { insecure: true } }), false);
});

Deno.test("stackOptions() stacks proxy, PROXY header, STARTTLS and TLS in order, with their phases", async () => {
  const route = await routePlan(
    args({
      proxy: "http://127.0.0.1:3128",
      "proxy-protocol": "v1",
      source: "127.0.0.1",
      starttls: "imap",
    }),
    { host: "imap.example" },
  );
  const options = stackOptions("imap.example", 143, {
    route,
    base: { connectTimeoutMs: 1234, timeoutFlag: "-w" },
  });
  assert.deepEqual(options.layers?.map((l) => [l.op, l.phase]), [
    ["proxy", "proxy"],
    ["proxy-header", undefined],
    ["starttls", "tls"],
    ["tls", "tls"],
  ]);
  assert.deepEqual(options.firstHop, { host: "127.0.0.1", port: 3128, label: "http proxy" });
  assert.deepEqual(options.source, { address: "127.0.0.1" });
  assert.equal(options.connectTimeoutMs, 1234);
  assert.equal(options.timeoutFlag, "-w");
  const plain = stackOptions("127.0.0.1", 7, { route: PLAIN, base: {} });
  assert.deepEqual(plain.layers, []);
  assert.equal(plain.firstHop, undefined);
  assert.equal(plain.source, undefined);
});

Deno.test("stackOptions() layers carry a connection through SOCKS5, STARTTLS and verified TLS", async () => {
  await using server = await startStartTlsServer({
    protocol: "smtp",
    cert: fx.good.cert,
    key: fx.good.key,
  });
  await using proxy = await startMicrosocks();
  const route = await routePlan(
    args({
      proxy: `socks5://${proxy.address}`,
      starttls: "smtp",
      sni: "localhost",
      cacert: fx.ca.cert,
    }),
    { host: "127.0.0.1" },
  );
  const conn = await dialStack("127.0.0.1", server.port, {
    ...stackOptions("127.0.0.1", server.port, { route, base: { connectTimeoutMs: 20_000 } }),
  });
  try {
    assert.equal(conn.facts.proxy?.type, "socks5");
    assert.equal(conn.facts.tls?.verified, true);
    assert.equal(typeof conn.facts.timings.proxyMs, "number");
    assert.equal(typeof conn.facts.timings.tlsMs, "number");
    await conn.write(encoder.encode("through every layer\n"));
    assert.equal(await readSome(conn), "through every layer\n");
  } finally {
    conn.close();
  }
});

Deno.test("stackOptions() PROXY header layer sends the v1 header first", async () => {
  await using peer = await startScripted([
    { hear: "PROXY TCP4 127.0.0.1 127.0.0.1 ", orElse: "no header\r\n" },
    { say: "header seen\r\n" },
    { pauseMs: 5000 },
  ]);
  const route: RoutePlan = { ...PLAIN, proxyProtocol: 1 };
  const conn = await dialStack(
    "127.0.0.1",
    peer.port,
    stackOptions("127.0.0.1", peer.port, { route, base: { connectTimeoutMs: 20_000 } }),
  );
  try {
    assert.equal(await readSome(conn), "header seen\r\n");
  } finally {
    conn.close();
  }
});

Deno.test("routeDialer() is undefined for a plain route, unless --cert-days asks for a check", async () => {
  assert.equal(routeDialer({ route: PLAIN }), undefined);
  const dialer = routeDialer({ route: PLAIN, certDays: 5 });
  assert.ok(dialer !== undefined);
  // Without TLS there is no certificate to judge: the dial just connects.
  await using echo = await startBuiltin();
  const conn = await dialer(
    { hostname: "127.0.0.1", port: echo.port, name: "127.0.0.1", noDelay: true },
    AbortSignal.timeout(20_000),
  );
  try {
    assert.equal(conn.facts.tls, null);
    await conn.write(encoder.encode("plain\n"));
    assert.equal(await readSome(conn), "plain\n");
  } finally {
    conn.close();
  }
});

Deno.test("routeDialer() fails a leaf with fewer whole days left than certDays", async () => {
  await using server = await startOpensslServer({ cert: fx.soon.cert, key: fx.soon.key });
  const route: RoutePlan = { ...PLAIN, tls: { insecure: false, ca: [fx.ca.certPem] } };
  const target = { hostname: "127.0.0.1", port: server.port, name: "localhost", noDelay: false };
  const short = routeDialer({ route, certDays: 5 })!;
  await assert.rejects(short(target, AbortSignal.timeout(20_000)), (err: unknown) => {
    assert.ok(err instanceof TlsError);
    assert.equal(err.kind, "tls");
    assert.equal(err.op, "tls");
    assert.match(
      err.message,
      new RegExp(
        `^tls "localhost:${server.port}": certificate expires in 3 days \\(notAfter \\d{4}-\\d\\d-\\d\\d\\), under --cert-days 5$`,
      ),
    );
    return true;
  });
  const enough = routeDialer({ route, certDays: 3 })!;
  const conn = await enough(target, AbortSignal.timeout(20_000));
  try {
    assert.equal(conn.facts.tls?.certificate?.daysLeft, 3);
  } finally {
    conn.close();
  }
});

Deno.test("routeDialer() sends each target's name as SNI unless --sni fixed it", async () => {
  await using server = await startOpensslServer({ cert: fx.wrongName.cert, key: fx.wrongName.key });
  const tls = { insecure: false, ca: [fx.ca.certPem] };
  const signal = () => AbortSignal.timeout(20_000);
  const byName = { hostname: "127.0.0.1", port: server.port, name: "localhost", noDelay: false };
  // The target's own name is verified: the certificate is for wrong.example only.
  const perTarget = routeDialer({ route: { ...PLAIN, tls } })!;
  await assert.rejects(perTarget(byName, signal()), (err: unknown) => {
    assert.ok(err instanceof NetError);
    assert.equal(err.kind, "tls");
    assert.equal(err.address, `localhost:${server.port}`);
    assert.match(err.message, /localhost/);
    return true;
  });
  await assert.rejects(
    perTarget({ ...byName, name: "other.example.invalid" }, signal()),
    (err: unknown) => err instanceof NetError && /other\.example\.invalid/.test(err.message),
  );
  // The name the certificate has, as the target's name: verified.
  const conn = await perTarget({ ...byName, name: "other.example" }, signal());
  try {
    assert.equal(conn.facts.tls?.verified, true);
  } finally {
    conn.close();
  }
  // --sni wins over the target's name.
  const fixed = routeDialer({ route: { ...PLAIN, tls: { ...tls, servername: "wrong.example" } } })!;
  const pinned = await fixed(byName, signal());
  try {
    assert.equal(pinned.facts.tls?.verified, true);
  } finally {
    pinned.close();
  }
});

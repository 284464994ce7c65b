/**
 * `tcpc why` run in this process (runWhy with a collecting context) against
 * real peers on loopback: each failure class a user meets at the proxy, TLS,
 * STARTTLS, PROXY header, first byte and step layers, the usage errors, and
 * `diagnose()` itself under an abort. Each test checks the exit code and the
 * words a user reads.
 */

import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { runWhy } from "../lib/cli/why.ts";
import { planWhy } from "../lib/cli/why.ts";
import { UsageError } from "../lib/errors.ts";
import { diagnose } from "../lib/net/why.ts";
import { whyVerdict } from "../lib/report/why_text.ts";
import { collectingContext } from "./peers/context.ts";
import { startCloser, startSender } from "./peers/faulty.ts";
import { startMicrosocks } from "./peers/proxies.ts";
import { freePort, startBuiltin } from "./peers/servers.ts";
import {
  makeTlsFixtures,
  startOpensslServer,
  startPlainServer,
  startStartTlsServer,
  type TlsFixtures,
} from "./peers/tls.ts";

interface Layer {
  layer: string;
  outcome: string;
  explanation: string;
  kind?: string;
  step?: number;
}

interface Report {
  via: string | null;
  dns: { outcome: string; explanation: string; kind?: string };
  addresses: { address: string; layers: Layer[] }[];
  verdict: string;
  kind: string;
  exitCode: number;
}

/** Runs `tcpc why ARGS --json` in this process: the exit code and the parsed report. */
async function whyJson(args: string[]): Promise<{ code: number; report: Report }> {
  const { ctx, out } = collectingContext();
  const code = await runWhy([...args, "--json"], ctx);
  assert.equal(out.length, 1, out.join("\n"));
  const report = JSON.parse(out[0]!) as Report;
  assert.equal(report.exitCode, code);
  return { code, report };
}

/** Runs `tcpc why ARGS` (the text report) in this process. */
async function whyText(args: string[]): Promise<{ code: number; lines: string[] }> {
  const { ctx, out } = collectingContext();
  const code = await runWhy(args, ctx);
  return { code, lines: out };
}

function layersOf(report: Report): [string, string][] {
  return report.addresses[0]!.layers.map((l) => [l.layer, l.outcome]);
}

function failedLayer(report: Report): Layer {
  const layer = report.addresses[0]!.layers.find((l) => l.outcome === "failed");
  assert.ok(layer, JSON.stringify(report));
  return layer;
}

/** A listener that completes handshakes and never answers (the test closes it). */
function silentListener(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return {
    port: (listener.addr as Deno.NetAddr).port,
    // Closing the listener also drops the queued connections, with a reset.
    close: () => listener.close(),
  };
}

let fixtures: TlsFixtures | undefined;
async function tlsFixtures(): Promise<TlsFixtures> {
  fixtures ??= await makeTlsFixtures();
  return fixtures;
}

Deno.test("why: a server that accepts and closes at once: the text report says so (exit 1)", async () => {
  await using peer = startCloser();
  const { code, lines } = await whyText(["127.0.0.1", `${peer.port}`]);
  assert.equal(code, 1, lines.join("\n"));
  assert.equal(lines[0], `why 127.0.0.1:${peer.port}`);
  assert.match(lines[1]!, /^skip dns .*an IP address: nothing to resolve$/);
  assert.ok(
    lines.some((l) => /^ {2}ok +tcp .* connected from 127\.0\.0\.1:\d+$/.test(l)),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((l) =>
      /^ {2}FAIL first-byte .* accepted, then closed without sending a byte/.test(l)
    ),
    lines.join("\n"),
  );
  assert.equal(
    lines.at(-1),
    "verdict: reachable, but the server accepted, then closed without a byte " +
      "(it refuses this client, or a proxy in front of it has no backend)",
  );
});

Deno.test("why: refused with steps marks every step skipped, numbered (exit 1)", async () => {
  const { code, report } = await whyJson([
    "127.0.0.1",
    `${freePort()}`,
    "--send",
    "a",
    "--expect",
    "b",
  ]);
  assert.equal(code, 1);
  const layers = report.addresses[0]!.layers;
  assert.deepEqual(layers.map((l) => [l.layer, l.outcome, l.step]), [
    ["tcp", "failed", undefined],
    ["first-byte", "skipped", undefined],
    ["step", "skipped", 1],
    ["step", "skipped", 2],
  ]);
});

Deno.test("why: a banner that never matches --expect is a step mismatch (exit 6)", async () => {
  await using peer = startSender(new TextEncoder().encode("SSH-2.0-OpenSSH\r\n"));
  const { code, report } = await whyJson([
    "127.0.0.1",
    `${peer.port}`,
    "--expect",
    "220",
    "-t",
    "5s",
  ]);
  assert.equal(code, 6, JSON.stringify(report));
  assert.deepEqual(layersOf(report), [["tcp", "ok"], ["first-byte", "ok"], ["step", "failed"]]);
  const step = failedLayer(report);
  assert.equal(step.kind, "verify");
  assert.equal(
    step.explanation,
    'step 1 (--expect "220"): no match before the peer closed; received "SSH-2.0-OpenSSH\\r\\n"',
  );
  assert.equal(report.verdict, `reachable, but ${step.explanation}`);
});

Deno.test("why: only --send steps: the first byte is not waited for (exit 0)", async () => {
  await using peer = await startBuiltin("echo");
  const { code, report } = await whyJson(["127.0.0.1", `${peer.port}`, "--send", "hi"]);
  assert.equal(code, 0, JSON.stringify(report));
  const layers = report.addresses[0]!.layers;
  assert.equal(layers[1]!.explanation, "no step reads (only --send steps)");
  assert.equal(layers[2]!.explanation, '--send "hi": sent');
});

Deno.test("why: --tls to a plain server that waits: no TLS answer within -w (exit 4)", async () => {
  const peer = silentListener();
  try {
    const { code, report } = await whyJson(["127.0.0.1", `${peer.port}`, "--tls", "-w", "1s"]);
    assert.equal(code, 4, JSON.stringify(report));
    const layer = failedLayer(report);
    assert.equal(layer.layer, "tls");
    assert.equal(layer.kind, "timeout");
    assert.match(layer.explanation, /^no TLS answer within 1s \(-w\): .*--starttls is needed/);
    assert.equal(report.verdict, "reachable, but no TLS answer within 1s");
  } finally {
    peer.close();
  }
});

Deno.test("why: a certificate not valid yet says for how many days (exit 7)", async () => {
  const tls = await tlsFixtures();
  await using peer = await startOpensslServer({ cert: tls.future.cert, key: tls.future.key });
  const { code, report } = await whyJson([
    "127.0.0.1",
    `${peer.port}`,
    "--tls",
    "--sni",
    "localhost",
    "--cacert",
    tls.ca.cert,
  ]);
  assert.equal(code, 7, JSON.stringify(report));
  const layer = failedLayer(report);
  assert.equal(layer.layer, "tls");
  assert.match(
    layer.explanation,
    /^the certificate is not valid for another \d+ days? \(notBefore \d{4}-\d\d-\d\d\): check the clocks/,
  );
});

Deno.test("why: -k accepts an unverified certificate and says why it is not verified (exit 0)", async () => {
  const tls = await tlsFixtures();
  await using peer = await startOpensslServer({ cert: tls.expired.cert, key: tls.expired.key });
  const { code, report } = await whyJson(["127.0.0.1", `${peer.port}`, "--tls", "-k"]);
  assert.equal(code, 0, JSON.stringify(report));
  const tlsLayer = report.addresses[0]!.layers[1]!;
  assert.equal(tlsLayer.layer, "tls");
  assert.match(tlsLayer.explanation, /NOT verified \([A-Z_]+; -k\), .*-?\d+ days left$/);
});

Deno.test("why: STARTTLS smtp that upgrades: every layer ok (exit 0)", async () => {
  const tls = await tlsFixtures();
  await using peer = await startStartTlsServer({
    protocol: "smtp",
    cert: tls.good.cert,
    key: tls.good.key,
  });
  const { code, report } = await whyJson([
    "127.0.0.1",
    `${peer.port}`,
    "--starttls",
    "smtp",
    "--sni",
    "localhost",
    "--cacert",
    tls.ca.cert,
  ]);
  assert.equal(code, 0, JSON.stringify(report));
  const layers = report.addresses[0]!.layers;
  assert.deepEqual(layers.slice(0, 3).map((l) => [l.layer, l.outcome]), [
    ["tcp", "ok"],
    ["starttls", "ok"],
    ["tls", "ok"],
  ]);
  assert.equal(layers[1]!.explanation, "upgrade accepted");
});

Deno.test("why: STARTTLS refused by the server fails the starttls layer (exit 7)", async () => {
  const tls = await tlsFixtures();
  await using peer = await startStartTlsServer({
    protocol: "smtp",
    cert: tls.good.cert,
    key: tls.good.key,
    refuse: true,
  });
  const { code, report } = await whyJson(["127.0.0.1", `${peer.port}`, "--starttls", "smtp"]);
  assert.equal(code, 7, JSON.stringify(report));
  const layer = failedLayer(report);
  assert.equal(layer.layer, "starttls");
  assert.equal(layer.kind, "tls");
  assert.match(report.verdict, /^reachable, but /);
});

Deno.test("why: a PROXY protocol header layer reports done (exit 0)", async () => {
  await using peer = await startBuiltin("echo");
  const { code, report } = await whyJson([
    "127.0.0.1",
    `${peer.port}`,
    "--proxy-protocol",
    "v1",
    "-t",
    "200ms",
  ]);
  assert.equal(code, 0, JSON.stringify(report));
  assert.deepEqual(report.addresses[0]!.layers.slice(0, 2).map((l) => [l.layer, l.explanation]), [
    ["tcp", report.addresses[0]!.layers[0]!.explanation],
    ["proxy-header", "done"],
  ]);
});

Deno.test("why: a SOCKS5 proxy that never answers its handshake times out (exit 4)", async () => {
  const proxy = silentListener();
  try {
    const { code, report } = await whyJson([
      "127.0.0.1",
      "80",
      "--proxy",
      `socks5://127.0.0.1:${proxy.port}`,
      "-w",
      "1s",
    ]);
    assert.equal(code, 4, JSON.stringify(report));
    const layer = failedLayer(report);
    assert.equal(layer.layer, "proxy");
    assert.equal(layer.kind, "timeout");
    assert.match(
      layer.explanation,
      /^the socks5 proxy accepted TCP but did not finish its handshake within 1s \(-w\): not a proxy/,
    );
    assert.equal(
      report.verdict,
      `reachable through the socks5 proxy 127.0.0.1:${proxy.port}, but the socks5 proxy ` +
        "did not finish its handshake within 1s",
    );
  } finally {
    proxy.close();
  }
});

Deno.test("why: an HTTP proxy that answers 403 is the proxy's failure (exit 8)", async () => {
  await using proxy = await startPlainServer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
  const { code, report } = await whyJson([
    "127.0.0.1",
    "80",
    "--proxy",
    `http://127.0.0.1:${proxy.port}`,
  ]);
  assert.equal(code, 8, JSON.stringify(report));
  const layer = failedLayer(report);
  assert.equal(layer.layer, "proxy");
  assert.equal(layer.kind, "proxy");
  assert.match(layer.explanation, /^the proxy failed: .*403/);
});

Deno.test("why: through a working SOCKS5 proxy the text report names it (exit 0)", async () => {
  await using proxy = await startMicrosocks();
  await using peer = await startBuiltin("echo");
  const { code, lines } = await whyText([
    "127.0.0.1",
    `${peer.port}`,
    "--proxy",
    `socks5://${proxy.address}`,
    "-t",
    "200ms",
  ]);
  assert.equal(code, 0, lines.join("\n"));
  assert.equal(lines[0], `why 127.0.0.1:${peer.port} via the socks5 proxy ${proxy.address}`);
  assert.ok(lines.some((l) => / tcp .* to the socks5 proxy$/.test(l)), lines.join("\n"));
  assert.ok(
    lines.some((l) => / proxy .* tunnel to the target ready \(socks5 /.test(l)),
    lines.join("\n"),
  );
  assert.equal(
    lines.at(-1),
    `verdict: 127.0.0.1:${proxy.address.split(":")[1]} works through the socks5 proxy ` +
      proxy.address,
  );
});

Deno.test("why: --source binds the local end (exit 0)", async () => {
  await using peer = await startBuiltin("echo");
  const { code, report } = await whyJson([
    "127.0.0.1",
    `${peer.port}`,
    "-s",
    "127.0.0.2",
    "-t",
    "200ms",
  ]);
  assert.equal(code, 0, JSON.stringify(report));
  assert.match(report.addresses[0]!.layers[0]!.explanation, /^connected from 127\.0\.0\.2:\d+$/);
});

Deno.test("why: an IP literal of the other family than -4/-6 is a usage failure (exit 2)", async () => {
  for (const [ip, flag] of [["127.0.0.1", "-6"], ["::1", "-4"]] as const) {
    const { code, lines } = await whyText([ip, "80", flag]);
    assert.equal(code, 2, lines.join("\n"));
    const family = flag.slice(1);
    assert.match(lines[1]!, new RegExp(`^FAIL dns +.*"${ip}" is not an IPv${family} address`));
    assert.equal(
      lines.at(-1),
      `verdict: "${ip}" does not resolve: "${ip}" is not an IPv${family} address (${flag})`,
    );
  }
});

Deno.test("why: a zero deadline is a usage error", async () => {
  for (const flag of ["-w", "-t"]) {
    const { ctx } = collectingContext();
    await assert.rejects(
      runWhy(["127.0.0.1", "80", flag, "0"], ctx),
      (err) => err instanceof UsageError && /must be above 0/.test(err.message),
    );
  }
});

Deno.test("planWhy() validates without a socket, and --help plans nothing", async () => {
  const plan = await planWhy(["localhost", "443", "--tls", "-w", "2s", "-6"]);
  assert.equal(plan?.connectTimeoutMs, 2000);
  assert.equal(plan?.family, 6);
  assert.equal(plan?.stack.layers?.length, 1);
  assert.equal(await planWhy(["--help"]), null);
});

Deno.test("diagnose() with no options: plain TCP, then the first byte (exit 0)", async () => {
  await using peer = startSender(new TextEncoder().encode('220 "ready"\r\n'));
  const report = await diagnose("127.0.0.1", peer.port);
  const layers = report.addresses[0]!.layers;
  assert.equal(layers[1]!.explanation, 'the server spoke first: "220 \\"ready\\"\\r\\n"');
  assert.equal(report.kernel, null);
  assert.equal(whyVerdict(report).exitCode, 0);
});

Deno.test("diagnose() rejects with the abort reason while waiting for a first byte", async () => {
  const peer = silentListener();
  try {
    const controller = new AbortController();
    const reason = new Error("stopped by the test");
    const running = diagnose("127.0.0.1", peer.port, {
      firstByteWaitMs: 30_000,
      signal: controller.signal,
    });
    // The connect completes in the kernel's backlog; then the read waits.
    setTimeout(() => controller.abort(reason), 300);
    await assert.rejects(running, (err) => err === reason);
  } finally {
    peer.close();
  }
});

Deno.test("diagnose() rejects with the abort reason during a TLS handshake", async () => {
  const peer = silentListener();
  try {
    const plan = await planWhy(["127.0.0.1", `${peer.port}`, "--tls"]);
    const controller = new AbortController();
    const reason = new Error("stopped by the test");
    const running = diagnose("127.0.0.1", peer.port, {
      stack: plan!.stack,
      connectTimeoutMs: 30_000,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 300);
    await assert.rejects(running, (err) => err === reason);
  } finally {
    peer.close();
  }
});

Deno.test({
  name: "diagnose() rejects with the abort reason when aborted before the lookup",
  // getaddrinfo cannot be cancelled: the abandoned lookup ends after diagnose() rejects.
  sanitizeOps: false,
  fn: async () => {
    const reason = new Error("stopped by the test");
    await assert.rejects(
      diagnose("localhost", 9, { signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    // The abandoned lookup started first on the same thread pool: once a second lookup of the
    // same name is done, it is too, and the next test starts clean.
    await lookup("localhost");
  },
});

Deno.test("why --help prints the usage and exits 0 without a socket", async () => {
  const { code, lines } = await whyText(["--help"]);
  assert.equal(code, 0);
  assert.match(lines.join("\n"), /^Usage: tcpc why HOST PORT/);
});

Deno.test("why: localhost with -4 resolves to its one address from /etc/hosts (exit 0)", async () => {
  await using peer = await startBuiltin("echo");
  const { code, report } = await whyJson(["localhost", `${peer.port}`, "-4", "-t", "200ms"]);
  assert.equal(code, 0, JSON.stringify(report));
  assert.equal(report.dns.outcome, "ok");
  assert.equal(report.dns.explanation, "1 address");
  assert.equal(report.verdict, `127.0.0.1:${peer.port} works`);
});

Deno.test("diagnose() runs steps without a signal; a given kernel limit shows only after an unanswered SYN", async () => {
  await using peer = await startBuiltin("echo");
  const plan = await planWhy([
    "127.0.0.1",
    `${peer.port}`,
    "--send",
    "ping\\n",
    "--expect",
    "ping",
  ]);
  const kernel = { synRetries: 2, maxConnectMs: 7000 };
  const report = await diagnose("127.0.0.1", peer.port, { steps: plan!.steps, kernel });
  assert.deepEqual(report.addresses[0]!.layers.map((l) => [l.layer, l.outcome]), [
    ["tcp", "ok"],
    ["first-byte", "ok"],
    ["step", "ok"],
    ["step", "ok"],
  ]);
  // The limit is reported only when a SYN went unanswered.
  assert.equal(report.kernel, null);
});

Deno.test({
  name: "why: remove the TLS fixtures",
  fn: async () => {
    await fixtures?.remove();
  },
});

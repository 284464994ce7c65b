import assert from "node:assert/strict";
import { NetError } from "../lib/errors.ts";
import {
  explainFailure,
  renderWhyText,
  type WhyAddress,
  whyJson,
  type WhyLayer,
  type WhyReport,
  whyVerdict,
} from "../lib/report/why_text.ts";

const CTX = { endpoint: "127.0.0.1:443", port: 443, timeoutMs: 3000, timeoutFlag: "-w" };

function failed(layer: string, err: NetError, kernel = false): WhyLayer {
  const why = explainFailure(err, {
    ...CTX,
    layer,
    ...(kernel ? { kernel: { synRetries: 6, maxConnectMs: 127_000 } } : {}),
  });
  return { layer, outcome: "failed", ms: 1, ...why };
}

const OK: WhyLayer = { layer: "tcp", outcome: "ok", ms: 0.2, explanation: "connected" };

function address(ip: string, layers: WhyLayer[]): WhyAddress {
  const v6 = ip.includes(":");
  return { address: ip, family: v6 ? 6 : 4, endpoint: v6 ? `[${ip}]:443` : `${ip}:443`, layers };
}

function report(addresses: WhyAddress[], kernel = false): WhyReport {
  return {
    target: "localhost:443",
    via: null,
    dns: {
      host: "localhost",
      outcome: "ok",
      resolver: "system resolver",
      ms: 1,
      addresses: addresses.map((a) => a.address),
      explanation: "",
    },
    addresses,
    connectTimeoutMs: 3000,
    stepTimeoutMs: 5000,
    kernel: kernel ? { synRetries: 6, maxConnectMs: 127_000 } : null,
  };
}

const refused = () =>
  new NetError("refused", "connection refused", { op: "connect", address: "x" });
const timeout = () =>
  new NetError("timeout", "timed out after 3s (-w)", { op: "connect", address: "x" });

Deno.test("whyVerdict() says which family works and what the other family's clients meet", () => {
  const verdict = whyVerdict(report([
    address("127.0.0.1", [OK]),
    address("::1", [failed("tcp", refused())]),
  ]));
  assert.equal(
    verdict.line,
    "127.0.0.1:443 works; [::1]:443 refused — clients that try IPv6 first get an error",
  );
  assert.equal(verdict.exitCode, 0);
});

Deno.test("whyVerdict() for SYNs nobody answers states the kernel's hang time (exit 4)", () => {
  const verdict = whyVerdict(report([
    address("127.0.0.1", [failed("tcp", timeout(), true)]),
    address("::1", [failed("tcp", timeout(), true)]),
  ], true));
  assert.equal(
    verdict.line,
    "no address answered the SYN within 3s (likely dropped by a firewall, or the host is down); " +
      "without a deadline a client hangs 127 s",
  );
  assert.equal(verdict.exitCode, 4);
});

Deno.test("whyVerdict() lets the failure that got furthest decide the exit code", () => {
  const tls = new NetError("tls", "handshake failed", { op: "tls", address: "x" });
  const verdict = whyVerdict(report([
    address("127.0.0.1", [OK, failed("tls", tls)]),
    address("::1", [failed("tcp", refused())]),
  ]));
  assert.equal(verdict.kind, "tls");
  assert.equal(verdict.exitCode, 7);
  assert.match(verdict.line, /^no address works: 127\.0\.0\.1:443 reachable, but /);
});

Deno.test("explainFailure() turns an expired certificate into days ago", () => {
  const err = Object.assign(
    new NetError("tls", "certificate expired on 2021-01-01 (notAfter)", {
      op: "tls",
      address: "x",
    }),
    {
      facts: {
        verifyError: "CERT_HAS_EXPIRED",
        certificate: { daysLeft: -3, notAfter: "2026-11-26T00:00:00.000Z" },
      },
    },
  );
  const why = explainFailure(err, { ...CTX, layer: "tls" });
  assert.equal(why.short, "the certificate expired 3 days ago (notAfter 2026-11-26)");
  assert.equal(
    whyVerdict(
      report([address("127.0.0.1", [OK, { layer: "tls", outcome: "failed", ms: 1, ...why }])]),
    )
      .line,
    "reachable, but the certificate expired 3 days ago (notAfter 2026-11-26)",
  );
});

Deno.test("explainFailure() tells EACCES from a route apart from the sandbox", () => {
  const err = new NetError("unreachable", "not permitted", {
    op: "connect",
    address: "x",
    cause: Object.assign(new Error("Permission denied"), { code: "EACCES" }),
  });
  const why = explainFailure(err, { ...CTX, layer: "tcp" });
  assert.match(why.explanation, /^administratively prohibited \(EACCES\)/);
});

Deno.test("renderWhyText() uses marks only when asked, and whyJson() keeps the contract's fields", () => {
  const r = report([address("127.0.0.1", [OK]), address("::1", [failed("tcp", refused())])]);
  const ascii = renderWhyText(r, { marks: "ascii" }).join("\n");
  assert.doesNotMatch(ascii, /[✓✗—]/);
  assert.match(ascii, /^ {2}FAIL tcp /m);
  const unicode = renderWhyText(r, { marks: "unicode" }).join("\n");
  assert.match(unicode, /^ {2}✗ tcp /m);
  const json = whyJson(r);
  assert.deepEqual(Object.keys(json.addresses[0]!), ["address", "family", "layers"]);
  assert.deepEqual(Object.keys(json.addresses[1]!.layers[0]!).slice(0, 4), [
    "layer",
    "outcome",
    "ms",
    "explanation",
  ]);
  assert.equal(json.exitCode, 0);
});

Deno.test("explainFailure() for an unanswered SYN without the kernel's limit names the proxy host", () => {
  const why = explainFailure(timeout(), { ...CTX, layer: "tcp", proxy: "socks5 proxy" });
  assert.equal(
    why.explanation,
    "no answer to the SYN within 3s (-w): a firewall drops the packets, or the socks5 proxy " +
      "host is down or absent",
  );
});

Deno.test("explainFailure() falls back to the error's own words where it knows no better", () => {
  // An unreachable without an errno, a failure at the first byte that is no timeout, reset or
  // close, a PROXY header write, and a thrown string.
  const unreachable = new NetError("unreachable", "no route", { op: "connect", address: "x" });
  assert.deepEqual(explainFailure(unreachable, { ...CTX, layer: "tcp" }), {
    kind: "unreachable",
    short: "no route",
    explanation: "no route",
  });
  const io = new NetError("io", "broken pipe", { op: "read", address: "127.0.0.1:443" });
  assert.equal(explainFailure(io, { ...CTX, layer: "first-byte" }).explanation, "broken pipe");
  const header = new NetError("closed", "peer closed the connection", {
    op: "proxy-header",
    address: "127.0.0.1:443",
  });
  assert.deepEqual(explainFailure(header, { ...CTX, layer: "proxy-header" }), {
    kind: "closed",
    short: "peer closed the connection",
    explanation: "peer closed the connection",
  });
  assert.deepEqual(explainFailure("stopped", { ...CTX, layer: "step" }), {
    kind: "io",
    short: "stopped",
    explanation: "stopped",
  });
});

Deno.test("explainFailure() for a proxy handshake timeout without a label says the proxy", () => {
  const err = new NetError("timeout", "timed out after 3s (-w)", { op: "proxy", address: "x" });
  const why = explainFailure(err, { ...CTX, layer: "proxy" });
  assert.equal(why.short, "the proxy did not finish its handshake within 3s");
});

Deno.test("explainFailure() says 1 day, not 1 days", () => {
  const err = Object.assign(
    new NetError("tls", "certificate expired", { op: "tls", address: "x" }),
    {
      facts: {
        verifyError: "CERT_HAS_EXPIRED",
        certificate: { daysLeft: -1, notAfter: "2026-11-28T00:00:00.000Z" },
      },
    },
  );
  assert.equal(
    explainFailure(err, { ...CTX, layer: "tls" }).short,
    "the certificate expired 1 day ago (notAfter 2026-11-28)",
  );
});

Deno.test("whyVerdict() and renderWhyText() cope with records missing their optional words", () => {
  // A failed lookup recorded without kind or short, a failed layer without kind or short.
  const r = report([address("127.0.0.1", [OK, {
    layer: "tls",
    outcome: "failed",
    ms: 1,
    explanation: "handshake failed",
  }])]);
  assert.deepEqual(whyVerdict(r), { line: "reachable, but tls", kind: "io", exitCode: 1 });
  const mixed = report([
    address("127.0.0.1", [OK, { layer: "tls", outcome: "failed", ms: 1, explanation: "x" }]),
    address("::1", [OK]),
  ]);
  assert.equal(
    whyVerdict(mixed).line,
    "[::1]:443 works; 127.0.0.1:443 tls — clients that try IPv4 first fail the same way",
  );
  const none = report([
    address("127.0.0.1", [OK, { layer: "tls", outcome: "failed", ms: 1, explanation: "x" }]),
    address("::1", [failed("tcp", refused())]),
  ]);
  assert.equal(
    whyVerdict(none).line,
    "no address works: 127.0.0.1:443 reachable, but tls; [::1]:443 refused",
  );
  const dns = {
    ...report([]),
    dns: {
      host: "example.invalid",
      outcome: "failed" as const,
      resolver: "system resolver",
      ms: 2,
      addresses: [],
      explanation: "no address",
    },
  };
  assert.deepEqual(whyVerdict(dns), {
    line: '"example.invalid" does not resolve: no address',
    kind: "dns",
    exitCode: 3,
  });
  const text = renderWhyText(dns);
  assert.equal(text[1], "FAIL dns              2ms  example.invalid: no address [system resolver]");
  assert.equal(text.at(-1), 'verdict: "example.invalid" does not resolve: no address');
});

Deno.test("whyVerdict() for one silent address without a kernel reading names the endpoint", () => {
  const verdict = whyVerdict(report([address("127.0.0.1", [failed("tcp", timeout())])]));
  assert.equal(
    verdict.line,
    "127.0.0.1:443 answered the SYN within 3s (likely dropped by a firewall, or the host is down)",
  );
  assert.equal(verdict.kind, "timeout");
});

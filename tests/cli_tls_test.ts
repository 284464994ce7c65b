/**
 * `tcpc HOST PORT --tls` end to end: the real CLI (`deno run -P main.ts`, the
 * least-privilege permission set) against real TLS servers on loopback
 * (socat `OPENSSL-LISTEN`, `openssl s_server`, a python3 `ssl` STARTTLS
 * server) with certificates made by the test.
 *
 * @module
 */

import assert from "node:assert/strict";
import { REPO, runCli } from "./peers/cli.ts";
import { startProcess } from "./peers/servers.ts";
import {
  makeTlsFixtures,
  startOpensslServer,
  startPlainServer,
  startSocatTls,
  startStartTlsServer,
  type StartTlsProtocol,
} from "./peers/tls.ts";
import { randomBytes, sha256 } from "./peers/data.ts";

const fx = await makeTlsFixtures();
// The fixtures serve every test of this file; the temp dir goes when the run ends.
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

/** The one JSON record on stdout. */
// deno-lint-ignore no-explicit-any
function record(out: string): any {
  const lines = out.split("\n");
  assert.equal(lines.length, 2, `one JSON line expected: ${JSON.stringify(out)}`);
  return JSON.parse(lines[0] ?? "");
}

/** `openssl x509 -noout ARGS` of a certificate file, the value after `=`. */
async function x509(cert: string, ...args: string[]): Promise<string> {
  const { stdout } = await new Deno.Command("openssl", {
    args: ["x509", "-in", cert, "-noout", ...args],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  return text.slice(text.indexOf("=") + 1);
}

const CA = ["--cacert", fx.ca.cert];

Deno.test("tcpc --tls moves 64 MiB through socat's TLS echo sha256-identical", async () => {
  await using peer = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  const data = randomBytes(64 * 1024 * 1024);
  const r = await runCli(
    ["localhost", String(peer.port), "--tls", ...CA, "-w", "5s", "-i", "20s"],
    { stdin: data, killAfterMs: 120_000 },
  );
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  assert.equal(r.stdout.length, data.length);
  assert.equal(await sha256(r.stdout), await sha256(data));
});

Deno.test("tcpc --tls --json reports protocol, cipher, verification, certificate and chain", async () => {
  await using peer = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  const r = await runCli(
    ["localhost", String(peer.port), "--tls", ...CA, "-d", "hello\\n", "-w", "5s", "--json"],
  );
  assert.equal(r.code, 0, r.err);
  const rec = record(r.out);
  assert.deepEqual(rec.data, { text: "hello\n" });
  assert.equal(rec.error, null);
  assert.equal(rec.proxy, null);
  assert.ok(rec.timings.tlsMs > 0, `tlsMs ${rec.timings.tlsMs}`);
  assert.ok(rec.timings.connectMs > 0);
  const tls = rec.tls;
  assert.match(tls.protocol, /^TLSv1\.[23]$/);
  assert.equal(typeof tls.cipher, "string");
  assert.ok(tls.cipher.length > 0);
  assert.equal(tls.alpn, null);
  assert.equal(tls.verified, true);
  assert.equal(tls.verifyError, null);
  const cert = tls.certificate;
  assert.equal(cert.subject, "CN=localhost");
  assert.equal(cert.issuer, "CN=tcpc test CA");
  assert.deepEqual(cert.subjectAltNames, ["localhost", "127.0.0.1"]);
  assert.ok(cert.daysLeft >= 363 && cert.daysLeft <= 365, `daysLeft ${cert.daysLeft}`);
  assert.ok(Date.parse(cert.notBefore) <= Date.now());
  assert.ok(Date.parse(cert.notAfter) > Date.now());
  assert.equal(cert.sha256, await x509(fx.good.cert, "-fingerprint", "-sha256"));
  assert.equal(cert.serial.toUpperCase(), (await x509(fx.good.cert, "-serial")).toUpperCase());
  assert.deepEqual(tls.chain.map((c: { subject: string }) => c.subject), [
    "CN=localhost",
    "CN=tcpc test CA",
  ]);
  assert.equal(tls.chain[0].issuer, "CN=tcpc test CA");
  assert.equal(tls.chain[0].notAfter, cert.notAfter);
});

Deno.test("tcpc --tls verifies a chain served with its intermediate", async () => {
  await using peer = await startOpensslServer({
    cert: fx.viaIntermediate.cert,
    key: fx.viaIntermediate.key,
    chain: fx.intermediate.cert,
  });
  const r = await runCli(["localhost", String(peer.port), "--tls", ...CA, "-z", "--json"]);
  assert.equal(r.code, 0, r.err);
  const tls = record(r.out).tls;
  assert.equal(tls.verified, true);
  assert.deepEqual(tls.chain.map((c: { subject: string }) => c.subject).slice(0, 2), [
    "CN=localhost",
    "CN=tcpc test intermediate",
  ]);
});

/** One TLS failure: the server to start and the words the message must hold. */
interface FailureCase {
  name: string;
  start: () => Promise<{ port: number } & AsyncDisposable>;
  args?: string[];
  words: RegExp;
  /** The words of the JSON `error.message`, when they differ. @default {words} */
  jsonWords?: RegExp;
  /** Whether `tls.verifyError` must be set in the JSON record. */
  verifyError: boolean;
}

const FAILURES: FailureCase[] = [
  {
    name: "expired",
    start: () => startOpensslServer({ cert: fx.expired.cert, key: fx.expired.key }),
    words: /certificate expired on 2021-01-01/,
    verifyError: true,
  },
  {
    name: "not yet valid",
    start: () => startOpensslServer({ cert: fx.future.cert, key: fx.future.key }),
    words: /certificate is not valid before \d{4}-\d\d-\d\d/,
    verifyError: true,
  },
  {
    name: "name mismatch",
    start: () => startOpensslServer({ cert: fx.wrongName.cert, key: fx.wrongName.key }),
    words: /name does not match "localhost": it holds "wrong\.example", "other\.example"/,
    verifyError: true,
  },
  {
    name: "self-signed",
    start: () => startOpensslServer({ cert: fx.selfSigned.cert, key: fx.selfSigned.key }),
    words: /self-signed certificate "CN=localhost" is not trusted/,
    verifyError: true,
  },
  {
    name: "unknown issuer",
    start: () => startOpensslServer({ cert: fx.good.cert, key: fx.good.key }),
    // No --cacert: the test CA is unknown.
    args: [],
    words: /unknown issuer "CN=tcpc test CA"/,
    verifyError: true,
  },
  {
    name: "missing intermediate",
    start: () => startOpensslServer({ cert: fx.viaIntermediate.cert, key: fx.viaIntermediate.key }),
    words: /unknown issuer "CN=tcpc test intermediate".*missing intermediate/,
    verifyError: true,
  },
  {
    name: "client certificate required",
    start: () =>
      startOpensslServer({
        cert: fx.good.cert,
        key: fx.good.key,
        requireClientCa: fx.clientCa.cert,
      }),
    words: /requires a client certificate/,
    verifyError: false,
  },
  {
    name: "not TLS",
    start: () => startPlainServer("HTTP/1.1 400 Bad Request\r\n\r\n"),
    words: /does not speak TLS: it answered "HTTP\/1\.1 400 Bad Request\\r\\n/,
    // errorRecord escapes the already escaped message again (backslashes doubled).
    jsonWords: /does not speak TLS: it answered "HTTP\/1\.1 400 Bad Request/,
    verifyError: false,
  },
  {
    name: "protocol mismatch",
    // A TLS 1.0-only server: node:tls offers 1.2 and 1.3 only.
    start: () =>
      startOpensslServerArgs(["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"], fx.good.cert, fx.good.key),
    words: /protocol version mismatch.*alert protocol_version/,
    verifyError: false,
  },
  {
    name: "handshake alert",
    // TLS 1.2 with an RSA-only cipher and an EC key: no cipher in common.
    start: () =>
      startOpensslServerArgs(["-tls1_2", "-cipher", "AES128-SHA256"], fx.good.cert, fx.good.key),
    words: /alert handshake_failure/,
    verifyError: false,
  },
];

/** `openssl s_server -www` with extra arguments. */
async function startOpensslServerArgs(extra: string[], cert: string, key: string) {
  return await startProcess("openssl", (port) => [
    "s_server",
    "-accept",
    `127.0.0.1:${port}`,
    "-cert",
    cert,
    "-key",
    key,
    ...extra,
    "-www",
    "-quiet",
  ]);
}

for (const c of FAILURES) {
  Deno.test(`tcpc --tls exits 7 on ${c.name}, in words and in JSON`, async () => {
    await using peer = await c.start();
    // Not -z: a TLS 1.3 server refuses a missing client certificate only after
    // the handshake, and -z closes before reading that alert.
    const base = ["localhost", String(peer.port), "--tls", ...(c.args ?? CA), "-w", "5s"];
    const text = await runCli(base);
    assert.equal(text.code, 7, text.err);
    const lines = text.err.trim().split("\n");
    assert.equal(lines.length, 1, text.err);
    assert.match(lines[0]!, new RegExp(`^tcpc: tls "localhost:${peer.port}": `));
    assert.match(lines[0]!, c.words);
    const json = await runCli([...base, "--json"]);
    assert.equal(json.code, 7, json.err);
    const rec = record(json.out);
    assert.equal(rec.error.kind, "tls");
    assert.match(rec.error.message, c.jsonWords ?? c.words);
    if (c.verifyError) {
      assert.equal(rec.tls.verified, false);
      assert.equal(typeof rec.tls.verifyError, "string");
      assert.ok(rec.tls.verifyError.length > 0);
      assert.equal(rec.tls.certificate.subject.startsWith("CN="), true);
    }
  });
}

Deno.test("tcpc -k/--insecure connects past a bad certificate and still reports why", async () => {
  await using peer = await startSocatTls({ cert: fx.expired.cert, key: fx.expired.key });
  for (const flag of ["-k", "--insecure"]) {
    const r = await runCli(
      ["localhost", String(peer.port), "--tls", ...CA, flag, "-d", "hi", "-w", "5s", "--json"],
    );
    assert.equal(r.code, 0, r.err);
    const rec = record(r.out);
    assert.deepEqual(rec.data, { text: "hi" });
    assert.equal(rec.tls.verified, false);
    assert.match(rec.tls.verifyError, /EXPIRED/i);
  }
  const v = await runCli(["localhost", String(peer.port), "--tls", ...CA, "-k", "-d", "hi", "-v"]);
  assert.equal(v.code, 0, v.err);
  assert.equal(v.out, "hi");
  assert.match(v.err, /verified: no \(.*EXPIRED.*\)/i);
});

Deno.test("tcpc --alpn negotiates the server's protocol", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    alpn: ["h2", "http/1.1"],
  });
  for (const [offer, chosen] of [["h2", "h2"], ["http/1.1", "http/1.1"], ["foo,h2", "h2"]]) {
    const r = await runCli(
      ["localhost", String(peer.port), "--tls", ...CA, "--alpn", offer!, "-z", "--json"],
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(record(r.out).tls.alpn, chosen);
  }
});

Deno.test("tcpc --cert/--key passes a server that requires a client certificate", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    requireClientCa: fx.clientCa.cert,
  });
  const r = await runCli([
    "localhost",
    String(peer.port),
    "--tls",
    ...CA,
    "--cert",
    fx.client.cert,
    "--key",
    fx.client.key,
    "-d",
    "GET / HTTP/1.0\\r\\n\\r\\n",
    "-w",
    "5s",
  ]);
  assert.equal(r.code, 0, r.err);
  // s_server -www answers with its status page, which names our certificate.
  assert.match(r.out, /^HTTP\/1\.0 200 ok/);
  assert.match(r.out, /tcpc client/);
  assert.ok(!r.err.includes("PRIVATE KEY"));
});

for (const protocol of ["smtp", "imap", "pop3", "ftp", "postgres"] as StartTlsProtocol[]) {
  Deno.test(`tcpc --starttls ${protocol} upgrades and echoes`, async () => {
    await using peer = await startStartTlsServer({
      protocol,
      cert: fx.good.cert,
      key: fx.good.key,
    });
    const r = await runCli(
      ["localhost", String(peer.port), "--starttls", protocol, ...CA, "-w", "5s", "--json"],
      { stdin: `hello ${protocol}\n` },
    );
    assert.equal(r.code, 0, r.err);
    const rec = record(r.out);
    assert.deepEqual(rec.data, { text: `hello ${protocol}\n` });
    assert.equal(rec.tls.verified, true);
    assert.ok(rec.timings.tlsMs > 0);
  });
}

Deno.test("tcpc --tls on a silent plain server ends at -w with exit 4, no hang", async () => {
  await using peer = await startPlainServer();
  const r = await runCli(["127.0.0.1", String(peer.port), "--tls", "-w", "2s", "--json"]);
  assert.equal(r.code, 4, r.err);
  const rec = record(r.out);
  assert.equal(rec.error.kind, "timeout");
  assert.equal(rec.error.timer, "connect");
  assert.ok(rec.timings.totalMs >= 1900, `totalMs ${rec.timings.totalMs}`);
  assert.ok(rec.timings.totalMs < 6000, `totalMs ${rec.timings.totalMs}`);
  assert.ok(peer.received() > 0, "the server saw our ClientHello");
});

Deno.test("tcpc --tls works under -P, whose set has no env, write, ffi or all", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${REPO}/deno.json`));
  const set = config.permissions.default;
  for (const denied of ["env", "write", "ffi", "all"]) {
    assert.ok(!(denied in set) || set[denied] === false, `default set grants ${denied}`);
  }
  assert.equal(config.tasks.tcpc, "deno run -P main.ts");
  await using peer = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  const r = await runCli(["localhost", String(peer.port), "--tls", ...CA, "-d", "ok", "-w", "5s"], {
    permissions: ["-P", "--no-prompt"],
  });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, "ok");
});

Deno.test("tcpc --tls -v prints the certificate, one line each", async () => {
  await using peer = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  const r = await runCli(["localhost", String(peer.port), "--tls", ...CA, "-d", "x", "-v"]);
  assert.equal(r.code, 0, r.err);
  for (
    const line of [
      /tls: TLSv1\.[23] \S+/,
      /verified: yes/,
      /subject: CN=localhost/,
      /issuer: CN=tcpc test CA/,
      /names: localhost, 127\.0\.0\.1/,
      /valid: .* to .* \(36\d days left\)/,
      /chain 0: CN=localhost/,
      /chain 1: CN=tcpc test CA/,
    ]
  ) assert.match(r.err, line);
});

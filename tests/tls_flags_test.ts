import assert from "node:assert/strict";
import { UsageError } from "../lib/errors.ts";
import type { ParsedArgs } from "../lib/cli/args.ts";
import { tlsPlan } from "../lib/cli/tls_flags.ts";
import { tlsLines } from "../lib/report/tls_text.ts";
import { makeTlsFixtures } from "./peers/tls.ts";

const fx = await makeTlsFixtures();
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

function args(values: ParsedArgs["values"]): ParsedArgs {
  return { values, positionals: [] };
}

async function usage(values: ParsedArgs["values"], host = "localhost"): Promise<string> {
  try {
    await tlsPlan(args(values), { host });
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${err}`);
    return err.message;
  }
  throw new Error("no UsageError");
}

Deno.test("tlsPlan() returns null without TLS flags", async () => {
  assert.equal(await tlsPlan(args({}), { host: "example.com" }), null);
});

Deno.test("tlsPlan() defaults SNI to a host name, not to an IP literal", async () => {
  assert.deepEqual(await tlsPlan(args({ tls: true }), { host: "example.com" }), {
    insecure: false,
    servername: "example.com",
  });
  assert.deepEqual(await tlsPlan(args({ ssl: true }), { host: "127.0.0.1" }), { insecure: false });
  assert.deepEqual(await tlsPlan(args({ tls: true }), { host: "::1" }), { insecure: false });
  assert.equal(
    (await tlsPlan(args({ tls: true, sni: "localhost" }), { host: "127.0.0.1" }))?.servername,
    "localhost",
  );
});

Deno.test("tlsPlan() reads ALPN, -k, --starttls and the PEM files", async () => {
  const plan = await tlsPlan(
    args({
      starttls: "SMTP",
      alpn: "h2, http/1.1",
      insecure: true,
      cacert: fx.ca.cert,
      cert: fx.client.cert,
      key: fx.client.key,
    }),
    { host: "mail.example" },
  );
  assert.equal(plan?.starttls, "smtp");
  assert.deepEqual(plan?.alpn, ["h2", "http/1.1"]);
  assert.equal(plan?.insecure, true);
  assert.deepEqual(plan?.ca, [fx.ca.certPem.trim()]);
  assert.equal(plan?.cert, fx.client.certPem);
  assert.equal(plan?.key, fx.client.keyPem);
});

Deno.test("tlsPlan() rejects bad flags with messages naming the flag", async (t) => {
  const cases: [string, ParsedArgs["values"], RegExp][] = [
    ["a TLS flag without --tls", { alpn: "h2" }, /^--alpn needs --tls/],
    ["-k without --tls", { insecure: true }, /^--insecure needs --tls/],
    ["--cert without --key", { tls: true, cert: fx.client.cert }, /^--cert needs --key/],
    ["--key without --cert", { tls: true, key: fx.client.key }, /^--key needs --cert/],
    [
      "an unknown --starttls",
      { starttls: "xmpp" },
      /"xmpp" for --starttls: must be one of smtp, imap, pop3, ftp, postgres/,
    ],
    [
      "an IP as --sni",
      { tls: true, sni: "10.0.0.1" },
      /"10.0.0.1" for --sni: an IP address cannot be sent/,
    ],
    ["an empty --alpn entry", { tls: true, alpn: "h2,," }, /for --alpn/],
    [
      "a missing --cacert",
      { tls: true, cacert: "/nonexistent/ca.pem" },
      /^cannot read --cacert "\/nonexistent\/ca.pem": no such file$/,
    ],
    [
      "a directory as --cacert",
      { tls: true, cacert: fx.dir },
      /^cannot read --cacert ".*": is a directory$/,
    ],
    [
      "a key as --cacert",
      { tls: true, cacert: fx.good.key },
      /--cacert ".*good.key" holds no PEM certificate/,
    ],
  ];
  for (const [name, values, message] of cases) {
    await t.step(name, async () => assert.match(await usage(values), message));
  }
});

Deno.test("tlsPlan() never quotes key material", async () => {
  // A certificate given as --key: the message names the flag and path only.
  const message = await usage({ tls: true, cert: fx.client.cert, key: fx.client.cert });
  assert.match(message, /^--key ".*client.pem" holds no PEM private key$/);
  const notPem = await usage({ tls: true, cert: fx.client.key, key: fx.client.key });
  assert.doesNotMatch(notPem, /PRIVATE KEY-----|MIG/);
});

Deno.test("tlsLines() prints one line per fact, escaping network strings", () => {
  const lines = tlsLines({
    protocol: "TLSv1.3",
    cipher: "TLS_AES_256_GCM_SHA384",
    alpn: "h2",
    verified: false,
    verifyError: "CERT_HAS_EXPIRED",
    certificate: {
      subject: "CN=evil\x1b[2J",
      issuer: "CN=tcpc test CA",
      subjectAltNames: ["localhost", "127.0.0.1"],
      notBefore: "2020-01-01T00:00:00.000Z",
      notAfter: "2021-01-01T00:00:00.000Z",
      daysLeft: -2158,
      sha256: "AA:BB",
      serial: "1001",
    },
    chain: [
      {
        subject: "CN=evil\x1b[2J",
        issuer: "CN=tcpc test CA",
        notAfter: "2021-01-01T00:00:00.000Z",
      },
    ],
  });
  assert.deepEqual(lines, [
    "tls: TLSv1.3 TLS_AES_256_GCM_SHA384",
    "alpn: h2",
    "verified: no (CERT_HAS_EXPIRED)",
    "subject: CN=evil\\x1b[2J",
    "issuer: CN=tcpc test CA",
    "names: localhost, 127.0.0.1",
    "valid: 2020-01-01 00:00 UTC to 2021-01-01 00:00 UTC (expired 2158 days ago)",
    "serial: 1001 sha256: AA:BB",
    "chain 0: CN=evil\\x1b[2J (issuer CN=tcpc test CA, until 2021-01-01 00:00 UTC)",
  ]);
});

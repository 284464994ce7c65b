import assert from "node:assert/strict";
import { tlsLines } from "../lib/report/tls_text.ts";
import type { CertificateFacts, TlsFacts } from "../lib/facts.ts";

const LEAF: CertificateFacts = {
  subject: "CN=localhost",
  issuer: "CN=tcpc test CA",
  subjectAltNames: ["localhost", "127.0.0.1"],
  notBefore: "2026-11-29T12:39:44.000Z",
  notAfter: "2027-11-29T12:39:44.000Z",
  daysLeft: 365,
  sha256: "AB:CD",
  serial: "01F2",
};

function facts(overrides: Partial<TlsFacts> = {}): TlsFacts {
  return {
    protocol: "TLSv1.3",
    cipher: "TLS_AES_256_GCM_SHA384",
    alpn: null,
    verified: true,
    verifyError: null,
    certificate: LEAF,
    chain: [],
    ...overrides,
  };
}

Deno.test("tlsLines() lists a verified leaf with its names, validity and fingerprint", () => {
  assert.deepEqual(tlsLines(facts({ alpn: "h2" })), [
    "tls: TLSv1.3 TLS_AES_256_GCM_SHA384",
    "alpn: h2",
    "verified: yes",
    "subject: CN=localhost",
    "issuer: CN=tcpc test CA",
    "names: localhost, 127.0.0.1",
    "valid: 2026-11-29 12:39 UTC to 2027-11-29 12:39 UTC (365 days left)",
    "serial: 01F2 sha256: AB:CD",
  ]);
});

Deno.test("tlsLines() says none for a missing ALPN and unknown protocol or cipher", () => {
  const lines = tlsLines(facts({ protocol: null, cipher: null, certificate: null }));
  assert.deepEqual(lines, ["tls: ? ?", "alpn: none", "verified: yes", "certificate: none sent"]);
});

Deno.test("tlsLines() gives the verify error of an unverified connection", () => {
  const lines = tlsLines(facts({ verified: false, verifyError: "DEPTH_ZERO_SELF_SIGNED_CERT" }));
  assert.equal(lines[2], "verified: no (DEPTH_ZERO_SELF_SIGNED_CERT)");
  assert.equal(
    tlsLines(facts({ verified: false, verifyError: null }))[2],
    "verified: no (unknown)",
  );
});

Deno.test("tlsLines() counts the days since an expired certificate's end", () => {
  const expired = { ...LEAF, notAfter: "2025-01-02T03:04:05.000Z", daysLeft: -42 };
  const lines = tlsLines(facts({ certificate: expired, verified: false, verifyError: "X" }));
  assert.ok(
    lines.includes("valid: 2026-11-29 12:39 UTC to 2025-01-02 03:04 UTC (expired 42 days ago)"),
    lines.join("\n"),
  );
  const today = tlsLines(facts({ certificate: { ...LEAF, daysLeft: 0 } }));
  assert.match(today.join("\n"), /\(0 days left\)/);
});

Deno.test("tlsLines() says none for a leaf without subjectAltNames", () => {
  const lines = tlsLines(facts({ certificate: { ...LEAF, subjectAltNames: [] } }));
  assert.ok(lines.includes("names: none"), lines.join("\n"));
});

Deno.test("tlsLines() lists every chain entry in order, leaf first", () => {
  const chain = [
    { subject: "CN=leaf", issuer: "CN=inter", notAfter: "2027-01-01T00:00:00.000Z" },
    { subject: "CN=inter", issuer: "CN=root", notAfter: "2030-06-15T08:30:00.000Z" },
    { subject: "CN=root", issuer: "CN=root", notAfter: "2040-12-31T23:59:59.000Z" },
  ];
  const lines = tlsLines(facts({ chain }));
  assert.deepEqual(lines.slice(-3), [
    "chain 0: CN=leaf (issuer CN=inter, until 2027-01-01 00:00 UTC)",
    "chain 1: CN=inter (issuer CN=root, until 2030-06-15 08:30 UTC)",
    "chain 2: CN=root (issuer CN=root, until 2040-12-31 23:59 UTC)",
  ]);
  assert.equal(lines.length, 8 + 3);
});

Deno.test("tlsLines() escapes control and bidi characters from the peer in every field", () => {
  const evil = "CN=a\x1b[2J\nb\u202ec\r\x00";
  const lines = tlsLines({
    protocol: `TLSv1.3${"\x07"}`,
    cipher: "X\nY",
    alpn: "h2\x1b]0;owned\x07",
    verified: false,
    verifyError: "ERR\nforged: yes",
    certificate: {
      ...LEAF,
      subject: evil,
      issuer: evil,
      subjectAltNames: ["a\nb", "c\u2028d"],
      notAfter: "not a date\x1b[31m",
      serial: "\x9b1",
      sha256: "\u200b",
    },
    chain: [{ subject: evil, issuer: evil, notAfter: "\x1b[0m" }],
  });
  // One line per entry: nothing from the peer may start a new line or reach
  // the terminal as a control sequence.
  assert.equal(lines.length, 9);
  for (const line of lines) {
    // deno-lint-ignore no-control-regex -- the point is to find control characters
    assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f\u200b\u202e\u2028]/, JSON.stringify(line));
  }
  assert.equal(lines[1], "alpn: h2\\x1b]0;owned\\x07");
  assert.match(lines[3]!, /^subject: CN=a\\x1b\[2J\\nb.*c\\r\\x00$/);
});

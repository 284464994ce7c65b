import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { NetError } from "../lib/errors.ts";
import type { Conn } from "../lib/net/conn.ts";
import { startTls } from "../lib/net/starttls.ts";
import { tlsDialer } from "./peers/tls_dial.ts";
import { TlsError, tlsLayer, type TlsLayerOptions } from "../lib/net/tls.ts";
import {
  makeTlsFixtures,
  startOpensslServer,
  startPlainServer,
  startSocatTls,
  startStartTlsServer,
  type StartTlsProtocol,
} from "./peers/tls.ts";

const fx = await makeTlsFixtures();
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const { tcp, dial, dialError } = tlsDialer(fx.ca.certPem);

async function readUntilEof(conn: Conn, limit = 1 << 20): Promise<string> {
  const buffer = new Uint8Array(65536);
  let text = "";
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    text += decoder.decode(buffer.subarray(0, n));
    if (text.length > limit) break;
  }
  return text;
}

Deno.test("tlsLayer() carries 64 MiB through a socat TLS echo unchanged (sha256)", async () => {
  await using peer = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  const conn = await dial(peer.port);
  try {
    const total = 64 * 1024 * 1024;
    const chunk = new Uint8Array(256 * 1024);
    const sent = createHash("sha256");
    const received = createHash("sha256");
    const writer = (async () => {
      for (let offset = 0, i = 0; offset < total; offset += chunk.length, i++) {
        for (let j = 0; j < chunk.length; j += 4096) chunk[j] = (i * 31 + j) & 0xff;
        sent.update(chunk);
        await conn.write(chunk);
      }
      await conn.closeWrite();
    })();
    const buffer = new Uint8Array(1 << 20);
    let got = 0;
    while (got < total) {
      const n = await conn.read(buffer);
      if (n === null) break;
      received.update(buffer.subarray(0, n));
      got += n;
    }
    await writer;
    assert.equal(got, total);
    assert.equal(received.digest("hex"), sent.digest("hex"));
  } finally {
    conn.close();
  }
});

Deno.test("tlsLayer() conn read by a slow reader still ends at the peer's close", async () => {
  // Deno 2.9's node:tls lost the EOF that arrived while the TLS socket was
  // paused by backpressure: this read never ended in most runs.
  const total = 16 * 1024 * 1024;
  await using peer = await startSocatTls({
    cert: fx.good.cert,
    key: fx.good.key,
    target: `SYSTEM:head -c ${total} /dev/zero`,
  });
  const conn = await dial(peer.port);
  let stuck = false;
  const guard = setTimeout(() => {
    stuck = true;
    conn.close();
  }, 20_000);
  try {
    await conn.closeWrite();
    const buffer = new Uint8Array(1 << 20);
    let got = 0;
    let eof = false;
    while (!eof) {
      const n = await conn.read(buffer);
      if (n === null) eof = true;
      else got += n;
      // A reader slower than the socket: the queue fills and backpressure starts.
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(got, total);
  } catch (err) {
    if (stuck) assert.fail("no EOF within 20 s after every byte arrived");
    throw err;
  } finally {
    clearTimeout(guard);
    conn.close();
  }
});

Deno.test("tlsLayer() fills facts.tls: protocol, cipher, certificate and chain", async () => {
  await using peer = await startOpensslServer({ cert: fx.good.cert, key: fx.good.key });
  const conn = await dial(peer.port);
  try {
    const tls = conn.facts.tls;
    assert.ok(tls !== null);
    const leaf = new X509Certificate(fx.good.certPem);
    assert.equal(tls.protocol, "TLSv1.3");
    assert.match(tls.cipher ?? "", /^TLS_/);
    assert.equal(tls.alpn, null);
    assert.equal(tls.verified, true);
    assert.equal(tls.verifyError, null);
    assert.ok(tls.certificate !== null);
    assert.equal(tls.certificate.subject, "CN=localhost");
    assert.equal(tls.certificate.issuer, "CN=tcpc test CA");
    assert.deepEqual(tls.certificate.subjectAltNames, ["localhost", "127.0.0.1"]);
    assert.ok(tls.certificate.daysLeft >= 363 && tls.certificate.daysLeft <= 365);
    assert.equal(tls.certificate.sha256, leaf.fingerprint256);
    assert.equal(tls.certificate.serial, leaf.serialNumber);
    assert.equal(tls.certificate.notAfter, new Date(leaf.validTo).toISOString());
    assert.deepEqual(tls.chain.map((c) => c.subject), ["CN=localhost", "CN=tcpc test CA"]);
    assert.equal(tls.chain[1]?.issuer, "CN=tcpc test CA");
  } finally {
    conn.close();
  }
});

Deno.test("tlsLayer() verifies an IP literal against the certificate's IP SAN", async () => {
  await using peer = await startOpensslServer({ cert: fx.good.cert, key: fx.good.key });
  const conn = await tlsLayer(await tcp(peer.port), {
    address: `127.0.0.1:${peer.port}`,
    ca: [fx.ca.certPem],
    signal: AbortSignal.timeout(20_000),
  });
  conn.close();
  assert.equal(conn.facts.tls?.verified, true);
});

Deno.test("tlsLayer() explains each verification failure and keeps the facts", async (t) => {
  const cases: {
    name: string;
    cert: { cert: string; key: string };
    chain?: string;
    options?: Partial<TlsLayerOptions>;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: "expired",
      cert: fx.expired,
      code: "CERT_HAS_EXPIRED",
      message: /certificate expired on 2021-01-01 00:00 UTC \(notAfter\)/,
    },
    {
      name: "not yet valid",
      cert: fx.future,
      code: "CERT_NOT_YET_VALID",
      message: /certificate is not valid before \d{4}-\d\d-\d\d \d\d:\d\d UTC \(notBefore\)/,
    },
    {
      name: "wrong name",
      cert: fx.wrongName,
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
      message:
        /certificate name does not match "localhost": it holds "wrong.example", "other.example"/,
    },
    {
      name: "self-signed",
      cert: fx.selfSigned,
      code: "DEPTH_ZERO_SELF_SIGNED_CERT",
      message: /self-signed certificate "CN=localhost" is not trusted/,
    },
    {
      name: "unknown issuer",
      cert: fx.good,
      options: { ca: [] },
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      message: /unknown issuer "CN=tcpc test CA"/,
    },
    {
      name: "missing intermediate",
      cert: fx.viaIntermediate,
      code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      message: /unknown issuer "CN=tcpc test intermediate".*missing intermediate/,
    },
    {
      name: "untrusted root above a sent intermediate",
      cert: fx.viaIntermediate,
      chain: fx.intermediate.cert,
      options: { ca: [] },
      code: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      message: /unknown issuer "CN=tcpc test CA" \(unable to get local issuer certificate\)/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using peer = await startOpensslServer({
        cert: c.cert.cert,
        key: c.cert.key,
        ...(c.chain === undefined ? {} : { chain: c.chain }),
      });
      const err = await dialError(peer.port, c.options);
      assert.match(err.message, new RegExp(`^tls "localhost:${peer.port}": `));
      assert.match(err.message, c.message);
      assert.equal(err.facts?.verified, false);
      assert.equal(err.facts?.verifyError, c.code);
      assert.equal(err.facts?.certificate?.subject.startsWith("CN="), true);
      // insecure: the same verdict in the facts, and a working conn.
      const conn = await dial(peer.port, { ...c.options, insecure: true });
      try {
        assert.equal(conn.facts.tls?.verified, false);
        assert.equal(conn.facts.tls?.verifyError, c.code);
        await conn.write(encoder.encode("GET / HTTP/1.0\r\n\r\n"));
        assert.match(await readUntilEof(conn), /^HTTP\/1.0 200 ok/);
      } finally {
        conn.close();
      }
    });
  }
});

Deno.test("tlsLayer() verifies a chain served with its intermediate", async () => {
  await using peer = await startOpensslServer({
    cert: fx.viaIntermediate.cert,
    key: fx.viaIntermediate.key,
    chain: fx.intermediate.cert,
  });
  const conn = await dial(peer.port);
  conn.close();
  assert.equal(conn.facts.tls?.verified, true);
  assert.deepEqual(conn.facts.tls?.chain.map((c) => c.subject), [
    "CN=localhost",
    "CN=tcpc test intermediate",
    "CN=tcpc test CA",
  ]);
});

Deno.test("tlsLayer() negotiates ALPN and explains a mismatch", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    alpn: ["h2"],
  });
  const conn = await dial(peer.port, { alpn: ["h2", "http/1.1"] });
  conn.close();
  assert.equal(conn.facts.tls?.alpn, "h2");
  const err = await dialError(peer.port, { alpn: ["spdy/1"] });
  assert.match(
    err.message,
    /no ALPN protocol in common: offered "spdy\/1" \(alert no_application_protocol \(120\)\)/,
  );
});

Deno.test("tlsLayer() says a TLS 1.3 server requires a client certificate, and passes with one", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    requireClientCa: fx.clientCa.cert,
  });
  // TLS 1.3: the server's refusal arrives after our handshake, on the first read.
  const conn = await dial(peer.port);
  try {
    await conn.write(encoder.encode("GET / HTTP/1.0\r\n\r\n")).catch(() => {});
    await assert.rejects(readUntilEof(conn), (err: unknown) => {
      assert.ok(err instanceof TlsError);
      assert.match(
        err.message,
        /requires a client certificate, and none was given \(alert certificate_required \(116\)\)/,
      );
      return true;
    });
  } finally {
    conn.close();
  }
  const mtls = await dial(peer.port, { cert: fx.client.certPem, key: fx.client.keyPem });
  try {
    await mtls.write(encoder.encode("GET / HTTP/1.0\r\n\r\n"));
    assert.match(await readUntilEof(mtls), /^HTTP\/1.0 200 ok/);
  } finally {
    mtls.close();
  }
});

Deno.test("tlsLayer() says a TLS 1.2 server may require a client certificate", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    requireClientCa: fx.clientCa.cert,
    tls12: true,
  });
  const err = await dialError(peer.port);
  assert.match(err.message, /may require a client certificate \(none given\)/);
  assert.match(err.message, /alert handshake_failure \(40\)/);
  const refused = await dialError(peer.port, {
    cert: fx.selfSigned.certPem,
    key: fx.selfSigned.keyPem,
  });
  assert.match(refused.message, /refused our client certificate|client certificate/);
  const conn = await dial(peer.port, { cert: fx.client.certPem, key: fx.client.keyPem });
  conn.close();
  assert.equal(conn.facts.tls?.protocol, "TLSv1.2");
});

Deno.test("tlsLayer() on a plain server quotes its first bytes, escaped", async () => {
  await using peer = await startPlainServer("HTTP/1.1 400 Bad Request\r\nServer: \x1b[2Jx\r\n\r\n");
  const err = await dialError(peer.port);
  assert.match(
    err.message,
    /the peer does not speak TLS: it answered "HTTP\/1.1 400 Bad Request\\r\\nServer: \\x1b\[2Jx\\r\\n/,
  );
  assert.equal(err.facts, null);
});

Deno.test("tlsLayer() on a silent server is bounded by the signal and closes the conn", async () => {
  await using peer = await startPlainServer();
  const conn = await tcp(peer.port);
  const started = performance.now();
  await assert.rejects(
    tlsLayer(conn, { address: `127.0.0.1:${peer.port}`, signal: AbortSignal.timeout(300) }),
    (err: unknown) => err instanceof DOMException && err.name === "TimeoutError",
  );
  assert.ok(performance.now() - started < 10_000);
  assert.ok(peer.received() > 0, "the server saw our ClientHello");
  await assert.rejects(conn.read(new Uint8Array(1)));
});

Deno.test("tlsLayer() on a server that closes at once says so", async () => {
  // reply "": the server reads our ClientHello, writes nothing and closes.
  await using closing = await startPlainServer("");
  const err = await dialError(closing.port);
  assert.match(err.message, /closed the connection during the handshake without a word/);
});

for (const protocol of ["smtp", "imap", "pop3", "ftp", "postgres"] as StartTlsProtocol[]) {
  Deno.test(`startTls() upgrades ${protocol}, then data goes both ways`, async () => {
    await using peer = await startStartTlsServer({
      protocol,
      cert: fx.good.cert,
      key: fx.good.key,
    });
    const plain = await tcp(peer.port);
    const address = `localhost:${peer.port}`;
    const signal = AbortSignal.timeout(20_000);
    await startTls(plain, { protocol, address, signal });
    const conn = await tlsLayer(plain, {
      address,
      servername: "localhost",
      ca: [fx.ca.certPem],
      signal,
    });
    try {
      assert.equal(conn.facts.tls?.verified, true);
      await conn.write(encoder.encode(`hello over ${protocol}\n`));
      const buffer = new Uint8Array(100);
      const n = await conn.read(buffer);
      assert.equal(decoder.decode(buffer.subarray(0, n ?? 0)), `hello over ${protocol}\n`);
    } finally {
      conn.close();
    }
  });
}

Deno.test("startTls() quotes the server when it refuses the upgrade", async (t) => {
  const cases: [StartTlsProtocol, RegExp][] = [
    ["smtp", /does not offer STARTTLS \(EHLO reply: "8BITMIME"\)/],
    ["imap", /answered "a001 BAD STARTTLS not available" to a001 STARTTLS/],
    ["pop3", /answered "-ERR STLS not available" to STLS/],
    ["ftp", /answered "500 AUTH not understood" to the reply to AUTH TLS/],
    ["postgres", /refuses SSL \(answered "N" to the SSLRequest\)/],
  ];
  for (const [protocol, message] of cases) {
    await t.step(protocol, async () => {
      await using peer = await startStartTlsServer({
        protocol,
        cert: fx.good.cert,
        key: fx.good.key,
        refuse: true,
      });
      const conn = await tcp(peer.port);
      await assert.rejects(
        startTls(conn, { protocol, address: `localhost:${peer.port}` }),
        (err: unknown) => {
          assert.ok(err instanceof NetError);
          assert.equal(err.kind, "tls");
          assert.equal(err.op, "starttls");
          assert.match(err.message, message);
          return true;
        },
      );
      await assert.rejects(conn.read(new Uint8Array(1)));
    });
  }
});

Deno.test("startTls() on a silent server is bounded by the signal", async () => {
  await using peer = await startPlainServer();
  const conn = await tcp(peer.port);
  await assert.rejects(
    startTls(conn, {
      protocol: "smtp",
      address: `127.0.0.1:${peer.port}`,
      signal: AbortSignal.timeout(200),
    }),
    (err: unknown) => err instanceof DOMException && err.name === "TimeoutError",
  );
});

Deno.test("startTls() on a non-SMTP greeting quotes it, escaped", async () => {
  await using peer = await startPlainServer();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const served = (async () => {
    const c = await listener.accept();
    await c.write(encoder.encode("SSH-2.0-OpenSSH_9.6\x1b[31m\r\n"));
    await c.read(new Uint8Array(100)).catch(() => null);
    c.close();
  })();
  try {
    const conn = await tcp(port);
    await assert.rejects(
      startTls(conn, { protocol: "smtp", address: `127.0.0.1:${port}` }),
      /unexpected reply while we waited for the SMTP greeting \(220\): "SSH-2.0-OpenSSH_9.6\\x1b\[31m"/,
    );
  } finally {
    await served;
    listener.close();
    assert.ok(peer.port > 0);
  }
});

/**
 * tlsLayer() edges: aborts, crafted TLS records from a scripted peer (alerts,
 * a cut-off record, a wrong version, an unexpected message), and real
 * `openssl s_server` peers serving unusual certificates (a CA as the leaf, a
 * certificate without names, an untrusted self-signed root in the chain, the
 * same certificate twice) and refusing our client certificate.
 */

import assert from "node:assert/strict";
import { TlsError, tlsLayer } from "../lib/net/tls.ts";
import { type ScriptAction, startScripted } from "./peers/scripted.ts";
import type { Peer } from "./peers/servers.ts";
import { ecKey, makeTlsFixtures, openssl, startOpensslServer } from "./peers/tls.ts";
import { tlsDialer } from "./peers/tls_dial.ts";

const fx = await makeTlsFixtures();
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

const encoder = new TextEncoder();

const { tcp, dial, dialError } = tlsDialer(fx.ca.certPem);

/** A leaf `name` signed by the test CA with the extensions `ext`, in fx.dir. */
async function caSigned(
  name: string,
  options: { subj: string; ext: string; serial: string },
): Promise<void> {
  await ecKey(`${name}.key`, fx.dir);
  const csr = ["req", "-new", "-key", `${name}.key`, "-subj", options.subj, "-out", `${name}.csr`];
  await openssl(csr, fx.dir);
  await Deno.writeTextFile(`${fx.dir}/${name}.ext`, options.ext);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-set_serial",
    options.serial,
    "-days",
    "30",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.pem`,
  ], fx.dir);
}

// A localhost leaf signed by the test CA for client authentication only (no
// serverAuth): fine by chain, date and name, yet the runtime refuses its purpose.
await caSigned("clientonly", {
  subj: "/CN=localhost",
  ext: "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
    "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:localhost\n",
  serial: "78",
});

// A leaf signed by the test CA with neither a CN nor a subjectAltName.
await caSigned("nameless", {
  subj: "/O=tcpc nameless",
  ext:
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
  serial: "77",
});

Deno.test("tlsLayer() aborted while node:tls is still loading closes the conn", async () => {
  // The first use in this process: node:tls is imported lazily, and the abort
  // lands before the import settles.
  await using peer = await startOpensslServer({ cert: fx.good.cert, key: fx.good.key });
  const conn = await tcp(peer.port);
  const controller = new AbortController();
  const reason = new Error("stopped while loading");
  const running = tlsLayer(conn, { address: `localhost:${peer.port}`, signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(running, (err: unknown) => err === reason);
  await assert.rejects(conn.read(new Uint8Array(1)), Deno.errors.BadResource);
});

Deno.test("tlsLayer() with an already aborted signal closes the conn before any byte", async () => {
  await using peer = await startScripted([{ pauseMs: 60_000 }]);
  const conn = await tcp(peer.port);
  const signal = AbortSignal.abort(new DOMException("too late", "TimeoutError"));
  await assert.rejects(
    tlsLayer(conn, { address: `localhost:${peer.port}`, signal }),
    (err: unknown) => err instanceof DOMException && err.name === "TimeoutError",
  );
  await assert.rejects(conn.read(new Uint8Array(1)), Deno.errors.BadResource);
});

/** A fatal alert record (RFC 8446 section 6): content type 21, TLS 1.2 record version, level 2. */
const alert = (description: number) => Uint8Array.of(21, 3, 3, 0, 2, 2, description);

/** Hears the first byte of our ClientHello (a handshake record, 22), then plays `answer`. */
const answering = (answer: ScriptAction[]): ScriptAction[] => [
  { hearBytes: Uint8Array.of(22) },
  ...answer,
];

const CRAFTED: [string, ScriptAction[], RegExp][] = [
  [
    "an internal_error alert",
    answering([{ say: alert(80) }, { pauseMs: 60_000 }]),
    /: handshake alert from the server: alert internal_error \(80\)$/,
  ],
  [
    "an alert the runtime has no name for (200)",
    answering([{ say: alert(200) }, { pauseMs: 60_000 }]),
    /: handshake alert from the server: alert unknown \(200\)$/,
  ],
  [
    "a no_renegotiation alert (not in our table)",
    answering([{ say: alert(100) }, { pauseMs: 60_000 }]),
    /: handshake alert from the server: alert NoRenegotiation$/,
  ],
  [
    "an unrecognized_name alert",
    answering([{ say: alert(112) }, { pauseMs: 60_000 }]),
    /: the server does not know the name sent in SNI \(alert unrecognized_name \(112\)\)$/,
  ],
  [
    "a protocol_version alert",
    answering([{ say: alert(70) }, { pauseMs: 60_000 }]),
    /: protocol version mismatch: the server accepts none of the TLS versions offered \(alert protocol_version \(70\)\)$/,
  ],
  [
    "a record cut off before the peer closes",
    answering([{ say: Uint8Array.of(22, 3, 3) }]),
    /: the peer closed the connection during the handshake after a partial TLS answer: /,
  ],
  [
    "a handshake record with an unknown version",
    answering([{ say: Uint8Array.of(22, 9, 9, 0, 5, 1, 2, 3, 4, 5) }, { pauseMs: 60_000 }]),
    /: the peer does not speak TLS \(wrong version number\)$/,
  ],
  [
    "application data before the ServerHello",
    answering([{ say: Uint8Array.of(23, 3, 3, 0, 1, 1) }, { pauseMs: 60_000 }]),
    /: handshake failed: received unexpected message: got ApplicationData when expecting Handshake$/,
  ],
];

for (const [name, script, message] of CRAFTED) {
  Deno.test(`tlsLayer() explains ${name} from the peer`, async () => {
    await using peer = await startScripted(script);
    const err = await dialError(peer.port);
    assert.match(err.message, new RegExp(`^tls "localhost:${peer.port}": `));
    assert.match(err.message, message);
    assert.equal(err.facts, null);
  });
}

Deno.test("tlsLayer() reports the runtime's refusal of a certificate fine by chain, date and name", async () => {
  await using peer = await startOpensslServer({
    cert: `${fx.dir}/clientonly.pem`,
    key: `${fx.dir}/clientonly.key`,
  });
  const err = await dialError(peer.port);
  assert.match(err.message, /: certificate verification failed \(.+\)$/);
  assert.equal(err.facts?.verified, false);
  assert.equal(err.facts?.certificate?.subject, "CN=localhost");
  assert.equal(typeof err.facts?.verifyError, "string");
  // -k: the same verdict, and the conn works.
  const conn = await dial(peer.port, { insecure: true });
  conn.close();
  assert.equal(conn.facts.tls?.verifyError, err.facts?.verifyError);
});

Deno.test("tlsLayer() quotes the CN when a certificate has no subjectAltName", async () => {
  // The test CA itself as the server's certificate: trusted, but named "tcpc test CA" only.
  await using peer = await startOpensslServer({ cert: fx.ca.cert, key: fx.ca.key });
  const err = await dialError(peer.port);
  assert.match(
    err.message,
    /: certificate name does not match "localhost": it holds "tcpc test CA"$/,
  );
  assert.equal(err.facts?.verifyError, "ERR_TLS_CERT_ALTNAME_INVALID");
  assert.deepEqual(err.facts?.certificate?.subjectAltNames, []);
});

Deno.test("tlsLayer() says a certificate without any name holds no names", async () => {
  await using peer = await startOpensslServer({
    cert: `${fx.dir}/nameless.pem`,
    key: `${fx.dir}/nameless.key`,
  });
  const err = await dialError(peer.port);
  assert.match(err.message, /: certificate name does not match "localhost": it holds no names$/);
  assert.equal(err.facts?.certificate?.subject, "O=tcpc nameless");
});

Deno.test("tlsLayer() names an untrusted self-signed root sent in the chain", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    chain: fx.ca.cert,
  });
  const err = await dialError(peer.port, { ca: [] });
  assert.match(
    err.message,
    /: self-signed certificate in the chain: root "CN=tcpc test CA" is not trusted$/,
  );
  assert.equal(err.facts?.verifyError, "SELF_SIGNED_CERT_IN_CHAIN");
});

Deno.test("tlsLayer() lists a certificate the server sends twice once", async () => {
  await using peer = await startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    chain: fx.good.cert,
  });
  const conn = await dial(peer.port);
  conn.close();
  assert.equal(conn.facts.tls?.verified, true);
  assert.deepEqual(conn.facts.tls?.chain.map((c) => c.subject), [
    "CN=localhost",
    "CN=tcpc test CA",
  ]);
});

Deno.test("tlsLayer() verifies a bracketed IPv6 address's host when no SNI is given", async () => {
  await using peer = await startOpensslServer({ cert: fx.good.cert, key: fx.good.key });
  const conn = await tcp(peer.port);
  await assert.rejects(
    tlsLayer(conn, {
      address: `[::1]:${peer.port}`,
      ca: [fx.ca.certPem],
      signal: AbortSignal.timeout(20_000),
    }),
    (err: unknown) => {
      assert.ok(err instanceof TlsError);
      assert.match(
        err.message,
        /: certificate name does not match "::1": it holds "localhost", "127\.0\.0\.1"$/,
      );
      return true;
    },
  );
});

/** `openssl s_server` (TLS 1.3) requiring a client certificate from the client CA. */
function mtlsServer(): Promise<Peer> {
  return startOpensslServer({
    cert: fx.good.cert,
    key: fx.good.key,
    requireClientCa: fx.clientCa.cert,
  });
}

Deno.test("tlsLayer() conn: a TLS 1.3 refusal of our client certificate fails reads and writes as TlsError", async () => {
  await using peer = await mtlsServer();
  // Not signed by the client CA: TLS 1.3 completes our side of the handshake,
  // then the server's alert arrives on the first read.
  const conn = await dial(peer.port, { cert: fx.selfSigned.certPem, key: fx.selfSigned.keyPem });
  try {
    await conn.write(encoder.encode("GET / HTTP/1.0\r\n\r\n")).catch(() => {});
    const isRefusal = (err: unknown) => {
      assert.ok(err instanceof TlsError, String(err));
      assert.match(
        err.message,
        /: the server refused our client certificate \(alert \w+ \(\d+\)\)$/,
      );
      return true;
    };
    const buffer = new Uint8Array(4096);
    await assert.rejects(
      (async () => {
        for (let i = 0; i < 1000; i++) if (await conn.read(buffer) === null) return;
      })(),
      isRefusal,
    );
    // The failure sticks: a later write and half-close say the same.
    await assert.rejects(conn.write(encoder.encode("more")), isRefusal);
    await assert.rejects(conn.closeWrite());
  } finally {
    conn.close();
  }
});

Deno.test("tlsLayer() conn: a write after close is a plain BadResource, not a TlsError", async () => {
  await using peer = await startOpensslServer({ cert: fx.good.cert, key: fx.good.key });
  const conn = await dial(peer.port);
  conn.close();
  await assert.rejects(conn.write(encoder.encode("x")), Deno.errors.BadResource);
});

Deno.test("tlsLayer() says the server does not know our SNI name (openssl -servername_fatal)", async () => {
  await using peer = await startOpensslServer({
    cert: fx.wrongName.cert,
    key: fx.wrongName.key,
    sni: { name: "wrong.example", cert: fx.wrongName.cert, key: fx.wrongName.key, fatal: true },
  });
  const err = await dialError(peer.port);
  assert.match(
    err.message,
    /: the server does not know the name sent in SNI \(alert unrecognized_name \(112\)\)$/,
  );
});

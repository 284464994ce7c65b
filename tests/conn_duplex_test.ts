import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { connDuplex } from "../lib/net/conn_duplex.ts";
import { dial } from "../lib/net/dial.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { tlsLayer } from "../lib/net/tls.ts";
import { makeTlsFixtures, startSocatTls } from "./peers/tls.ts";
import { startBuiltin } from "./peers/servers.ts";

const fx = await makeTlsFixtures();
globalThis.addEventListener("unload", () => Deno.removeSync(fx.dir, { recursive: true }));

/** Writes `total` patterned bytes to a duplex, then ends it; returns their sha256. */
async function writePattern(duplex: Duplex, total: number): Promise<string> {
  const hash = createHash("sha256");
  const chunk = new Uint8Array(100_000);
  for (let offset = 0, i = 0; offset < total; offset += chunk.length, i++) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - offset));
    for (let j = 0; j < piece.length; j += 997) piece[j] = (i * 7 + j) & 0xff;
    hash.update(piece);
    if (!duplex.write(piece.slice())) {
      await new Promise((resolve) => duplex.once("drain", resolve));
    }
  }
  duplex.end();
  return hash.digest("hex");
}

/** Reads a duplex to its end; returns the byte count and sha256. */
async function readAll(duplex: Duplex): Promise<{ bytes: number; sha: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of duplex) {
    hash.update(chunk as Uint8Array);
    bytes += (chunk as Uint8Array).length;
  }
  return { bytes, sha: hash.digest("hex") };
}

/** `promise`, or a rejection with `message` after `ms` (a guard against a stall). */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error(message)), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("connDuplex() carries 3 MB through an echo and half-closes on end()", async () => {
  await using peer = await startBuiltin("echo");
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: peer.port }));
  const duplex = connDuplex(conn);
  const closed = new Promise((resolve) => duplex.once("close", resolve));
  const total = 3_000_000;
  const [sent, got] = await within(
    Promise.all([writePattern(duplex, total), readAll(duplex)]),
    20_000,
    "the duplex stalled (a _read call was lost)",
  );
  // The echo saw our FIN (end() -> closeWrite) and closed after echoing it all.
  assert.deepEqual(got, { bytes: total, sha: sent });
  duplex.destroy();
  await closed;
  // destroy() closed the conn: the socket's resource is gone.
  assert.throws(() => conn.raw.close(), Deno.errors.BadResource);
});

Deno.test("connDuplex() reports a write after the peer went away", async () => {
  await using peer = await startBuiltin("discard");
  const conn = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: peer.port }));
  const duplex = connDuplex(conn);
  const failed = new Promise<Error>((resolve) => duplex.once("error", resolve));
  const closed = new Promise((resolve) => duplex.once("close", resolve));
  // Our own close under the duplex: the next write fails for real (BadResource).
  conn.close();
  duplex.write(new Uint8Array(10));
  const error = await failed;
  assert.ok(error instanceof Error);
  assert.match(error.name, /BadResource|Interrupted/);
  await closed;
});

Deno.test("tlsLayer() over a source-bound (node:net) conn uses the generic duplex", async () => {
  await using peer = await startSocatTls({ cert: fx.good.cert, key: fx.good.key });
  // --source makes the dial a NodeConn: TLS then runs over the generic duplex.
  const tcp = await dial("127.0.0.1", peer.port, {
    source: { address: "127.0.0.1" },
    connectTimeoutMs: 10_000,
  });
  const conn = await tlsLayer(tcp, {
    address: `localhost:${peer.port}`,
    servername: "localhost",
    ca: [fx.ca.certPem],
    signal: AbortSignal.timeout(20_000),
  });
  try {
    assert.equal(conn.facts.tls?.verified, true);
    const total = 2 * 1024 * 1024;
    const data = new Uint8Array(total);
    for (let i = 0; i < total; i += 31) data[i] = i & 0xff;
    const sent = createHash("sha256").update(data).digest("hex");
    const writer = (async () => {
      await conn.write(data);
      await conn.closeWrite();
    })();
    const received = createHash("sha256");
    const buffer = new Uint8Array(1 << 16);
    let got = 0;
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      received.update(buffer.subarray(0, n));
      got += n;
    }
    await writer;
    assert.equal(got, total);
    assert.equal(received.digest("hex"), sent);
  } finally {
    conn.close();
  }
});

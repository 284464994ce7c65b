import assert from "node:assert/strict";
import { runCli } from "./peers/cli.ts";

/** A listener on 127.0.0.1 that accepts one client and reads its first bytes (until `until` or EOF). */
function recordingPeer(until = "") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen = (async () => {
    const conn = await listener.accept();
    listener.close();
    try {
      const remote = conn.remoteAddr as Deno.NetAddr;
      const buffer = new Uint8Array(512);
      let text = "";
      while (until !== "" && !text.includes(until)) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
      return { remote: remote.hostname, text };
    } finally {
      conn.close();
    }
  })();
  return { port: (listener.addr as Deno.NetAddr).port, seen };
}

Deno.test("tcpc probe --source binds the source address of each connect", async () => {
  const peer = recordingPeer();
  const r = await runCli(["probe", `127.0.0.1:${peer.port}`, "--source", "127.0.0.2", "--json"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).state, "open");
  assert.equal((await peer.seen).remote, "127.0.0.2", "the peer saw the bound source");
});

Deno.test("tcpc probe --proxy-protocol v1 sends the PROXY header first", async () => {
  const peer = recordingPeer("\r\n");
  const r = await runCli(["probe", `127.0.0.1:${peer.port}`, "--proxy-protocol", "v1", "--json"]);
  assert.equal(r.code, 0, r.err);
  const { text } = await peer.seen;
  // PROXY protocol v1 (haproxy's proxy-protocol.txt section 2.1).
  assert.match(
    text,
    new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${peer.port}\\r\\n`),
  );
});

Deno.test("tcpc probe refuses a --source that is a name, and --source-port with --proxy", async () => {
  const name = await runCli(["probe", "127.0.0.1:9", "--source", "localhost"]);
  assert.equal(name.code, 2);
  assert.equal(
    name.err,
    `tcpc: invalid --source "localhost": must be an IP address of this host\n`,
  );
  const both = await runCli([
    "probe",
    "127.0.0.1:9",
    "--source-port",
    "5555",
    "--proxy",
    "socks5://127.0.0.1:1080",
  ]);
  assert.equal(both.code, 2);
  assert.equal(both.err, "tcpc: conflicting flags --source-port and --proxy: give only one\n");
});

import assert from "node:assert/strict";
import { DialogNetError, type DialogStep, runDialog } from "../lib/net/dialog.ts";
import { TcpConn } from "../lib/net/tcp_conn.ts";
import { startScripted } from "./peers/scripted.ts";

const enc = new TextEncoder();
const send = (text: string): DialogStep => ({ kind: "send", bytes: enc.encode(text), text });
const expect = (text: string): DialogStep => ({ kind: "expect", bytes: enc.encode(text), text });

async function connect(port: number): Promise<TcpConn> {
  return new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
}

Deno.test("runDialog() with an already aborted signal closes the conn before the first step", async () => {
  await using peer = await startScripted([{ pauseMs: 60_000 }]);
  const conn = await connect(peer.port);
  const reason = new Error("interrupted");
  await assert.rejects(
    runDialog(conn, {
      steps: [send("PING\r\n")],
      address: `127.0.0.1:${peer.port}`,
      signal: AbortSignal.abort(reason),
    }),
    (err: unknown) => err === reason,
  );
  await assert.rejects(conn.read(new Uint8Array(1)), Deno.errors.BadResource);
});

Deno.test("runDialog() a send on a conn closed under it is a DialogNetError naming the step", async () => {
  await using peer = await startScripted([{ pauseMs: 60_000 }]);
  const conn = await connect(peer.port);
  conn.close();
  const result = await runDialog(conn, {
    steps: [send("PING"), expect("+PONG")],
    address: `127.0.0.1:${peer.port}`,
    stepTimeoutMs: 20_000,
  });
  assert.equal(result.ok, false);
  assert.ok(result.error instanceof DialogNetError, String(result.error));
  assert.equal(result.error.step, 1);
  assert.match(result.error.message, /: step 1 \(--send "PING"\): .+; received nothing$/);
  assert.deepEqual(result.steps.map((s) => s.ok), [false]);
});

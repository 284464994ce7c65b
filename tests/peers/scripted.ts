/**
 * A scripted line-protocol server for dialog tests (in this process, loopback
 * only): each connection plays the same script of things to say and lines (or
 * exact bytes) to hear. A line that is not the one expected gets `orElse` and
 * the connection is closed, so a client that speaks out of order fails.
 *
 * @module
 */

import type { Peer } from "./servers.ts";
import { acceptEach } from "./accept.ts";

/** One action of a script. */
export type ScriptAction =
  | { say: string | Uint8Array }
  /** Read one line (up to `\n`); it must start with `hear`. */
  | { hear: string; orElse?: string }
  /** Read exactly these bytes. */
  | { hearBytes: Uint8Array; orElse?: string }
  /** Wait this long (for a peer that goes quiet or answers late). */
  | { pauseMs: number };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads until `want` bytes or a newline (`line`), bounded by 64 KiB; null at EOF. */
async function readSome(
  conn: Deno.Conn,
  pending: { buf: Uint8Array },
  stop: (buf: Uint8Array) => number,
): Promise<Uint8Array | null> {
  const chunk = new Uint8Array(4096);
  for (let i = 0; i < 1024; i++) {
    const end = stop(pending.buf);
    if (end >= 0) {
      const out = pending.buf.slice(0, end);
      pending.buf = pending.buf.slice(end);
      return out;
    }
    const n = await conn.read(chunk);
    if (n === null) return null;
    const grown = new Uint8Array(pending.buf.length + n);
    grown.set(pending.buf);
    grown.set(chunk.subarray(0, n), pending.buf.length);
    pending.buf = grown;
  }
  return null;
}

async function play(conn: Deno.Conn, script: ScriptAction[], signal: AbortSignal): Promise<void> {
  const pending = { buf: new Uint8Array(0) };
  for (const action of script) {
    if (signal.aborted) return;
    if ("say" in action) {
      const bytes = typeof action.say === "string" ? enc.encode(action.say) : action.say;
      let off = 0;
      while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    } else if ("pauseMs" in action) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, action.pauseMs);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done, { once: true });
      });
    } else {
      const isLine = "hear" in action;
      const got = await readSome(conn, pending, (buf) => {
        if (isLine) {
          const nl = buf.indexOf(0x0a);
          return nl < 0 ? -1 : nl + 1;
        }
        return buf.length >= action.hearBytes.length ? action.hearBytes.length : -1;
      });
      if (got === null) return;
      const ok = isLine
        ? dec.decode(got).startsWith(action.hear)
        : got.every((b, i) => b === action.hearBytes[i]);
      if (!ok) {
        await conn.write(enc.encode(action.orElse ?? "ERR unexpected\r\n"));
        // Half-close and drain: closing with unread input would send a reset
        // that could overtake the answer.
        await conn.closeWrite();
        await readSome(conn, pending, () => -1);
        return;
      }
    }
  }
}

/** Starts the scripted server on a free loopback port. */
export function startScripted(script: ScriptAction[]): Promise<Peer> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const controller = new AbortController();
  const conns = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  const loop = acceptEach(listener, (conn) => {
    conns.add(conn);
    const handler = play(conn, script, controller.signal)
      .catch(() => {})
      .finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed by stop() */ }
      });
    handlers.add(handler);
    handler.finally(() => handlers.delete(handler));
  });
  const stop = async () => {
    controller.abort();
    listener.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await loop;
    await Promise.all([...handlers]);
  };
  return Promise.resolve({ port, stop, [Symbol.asyncDispose]: stop });
}

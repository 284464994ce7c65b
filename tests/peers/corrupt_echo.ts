/**
 * Misbehaving echo servers for tests, in this process, on loopback port 0:
 * one that flips one byte at a known offset of every connection's echo stream,
 * and one that echoes a few bytes and then closes.
 *
 * @module
 */

import type { Peer } from "./servers.ts";

/** Options of {@linkcode startMisbehavingEcho}. */
export interface MisbehavingEchoOptions {
  /**
   * Flip (XOR 0xff) the byte at this offset of each connection's echo stream,
   * counted from 0. @default {undefined} (no corruption)
   */
  flipAt?: number;
  /**
   * Echo only this many bytes of each connection, then close it (without
   * reading the rest). @default {undefined} (echo everything)
   */
  closeAfter?: number;
}

/** A running misbehaving server, with the number of connections it accepted. */
export interface MisbehavingPeer extends Peer {
  /** Connections accepted so far. */
  accepted(): number;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

async function handle(conn: Deno.Conn, options: MisbehavingEchoOptions): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  let echoed = 0;
  const limit = options.closeAfter ?? Infinity;
  while (echoed < limit) {
    const n = await conn.read(buffer);
    if (n === null) {
      await conn.closeWrite();
      return;
    }
    const chunk = buffer.subarray(0, Math.min(n, limit - echoed));
    const flip = options.flipAt;
    if (flip !== undefined && flip >= echoed && flip < echoed + chunk.length) {
      chunk[flip - echoed] = (chunk[flip - echoed] ?? 0) ^ 0xff;
    }
    await writeAll(conn, chunk);
    echoed += chunk.length;
  }
}

/**
 * Starts an echo server that corrupts or cuts its replies as asked.
 *
 * @example Flip byte 7 of every connection's reply stream
 * ```ts
 * import { startMisbehavingEcho } from "./corrupt_echo.ts";
 * await using peer = startMisbehavingEcho({ flipAt: 7 });
 * console.log(peer.port);
 * ```
 */
export function startMisbehavingEcho(options: MisbehavingEchoOptions): MisbehavingPeer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  const running = (async () => {
    const handlers = new Set<Promise<void>>();
    while (true) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource) break;
        continue;
      }
      accepted++;
      conns.add(conn);
      const done = handle(conn, options).catch(() => {}).finally(() => {
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed by stop() */ }
      });
      handlers.add(done);
      done.finally(() => handlers.delete(done));
    }
    await Promise.all(handlers);
  })();
  const stop = async () => {
    try {
      listener.close();
    } catch { /* closed */ }
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await running;
  };
  return { port, stop, accepted: () => accepted, [Symbol.asyncDispose]: stop };
}

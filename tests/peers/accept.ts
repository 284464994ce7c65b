/**
 * The accept loop every test server shares.
 *
 * @module
 */

/** Options of {@linkcode acceptEach}. */
export interface AcceptEachOptions {
  /** Stop after this many accepted clients (a test server never needs more). @default {10000} */
  max?: number;
}

/**
 * Accepts clients until `listener` is closed and hands each to `onConn`, in
 * order (a returned promise is awaited before the next accept). A failed
 * accept, e.g. a client that reset before it was accepted, is skipped.
 * Resolves once the listener is closed or `max` clients came.
 *
 * @example An echo peer
 * ```ts ignore
 * import { acceptEach } from "./accept.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const done = acceptEach(listener, (conn) => void conn.readable.pipeTo(conn.writable));
 * listener.close();
 * await done;
 * ```
 */
export async function acceptEach<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  onConn: (conn: C) => void | Promise<void>,
  options: AcceptEachOptions = {},
): Promise<void> {
  const max = options.max ?? 10_000;
  for (let i = 0; i < max; i++) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (err) {
      if (err instanceof Deno.errors.BadResource) return;
      continue;
    }
    await onConn(conn);
  }
}

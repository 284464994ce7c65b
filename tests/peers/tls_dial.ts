/**
 * Dialing a TLS peer in tests: a loopback TCP connect, then `tlsLayer()`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Conn } from "../../lib/net/conn.ts";
import { TcpConn } from "../../lib/net/tcp_conn.ts";
import { TlsError, tlsLayer, type TlsLayerOptions } from "../../lib/net/tls.ts";

/** What {@linkcode tlsDialer} gives. */
export interface TlsDialer {
  /** A plain TCP conn to 127.0.0.1:`port`. */
  tcp(port: number): Promise<TcpConn>;
  /** TCP connect then the TLS layer (SNI and address localhost), trusting the CA unless told otherwise. */
  dial(port: number, options?: Partial<TlsLayerOptions>): Promise<Conn>;
  /** The TlsError (kind and op "tls") a dial fails with; throws if the dial succeeds. */
  dialError(port: number, options?: Partial<TlsLayerOptions>): Promise<TlsError>;
}

/**
 * Dial helpers that trust `ca` (PEM) by default, with a 20 s timeout.
 *
 * @example Dial an `openssl s_server`
 * ```ts
 * const { dial } = tlsDialer(fx.ca.certPem);
 * const conn = await dial(peer.port);
 * conn.close();
 * ```
 */
export function tlsDialer(ca: string): TlsDialer {
  const tcp = async (port: number) =>
    new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port }));
  const dial = async (port: number, options: Partial<TlsLayerOptions> = {}) =>
    tlsLayer(await tcp(port), {
      address: `localhost:${port}`,
      servername: "localhost",
      ca: [ca],
      signal: AbortSignal.timeout(20_000),
      ...options,
    });
  const dialError = async (port: number, options: Partial<TlsLayerOptions> = {}) => {
    try {
      const conn = await dial(port, options);
      conn.close();
    } catch (err) {
      assert.ok(err instanceof TlsError, `expected a TlsError, got ${err}`);
      assert.equal(err.kind, "tls");
      assert.equal(err.op, "tls");
      return err;
    }
    throw new Error("the dial succeeded");
  };
  return { tcp, dial, dialError };
}

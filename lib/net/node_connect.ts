/**
 * A TCP connect through node:net, for a bound source address or port.
 *
 * @module
 */

import { connect as nodeConnect, type Socket } from "node:net";
import { NetError } from "../errors.ts";
import { joinHostPort } from "./address.ts";
import type { Conn } from "./conn.ts";
import { NodeConn } from "./node_conn.ts";
import type { ConnectTcpOptions, SourceOptions } from "./tcp_connect.ts";

/**
 * One TCP connect with node:net, binding the local end (`source`), which
 * `Deno.connect` cannot do. EADDRNOTAVAIL and EADDRINUSE name the source.
 *
 * @example
 * ```ts
 * import { connectNode } from "./node_connect.ts";
 * const conn = await connectNode("127.0.0.1", 7, { source: { address: "127.0.0.2" } });
 * console.log(conn.localAddress); // 127.0.0.2:...
 * conn.close();
 * ```
 */
export async function connectNode(
  address: string,
  port: number,
  options: ConnectTcpOptions,
): Promise<Conn> {
  const signal = options.signal;
  signal?.throwIfAborted();
  const source = options.source ?? {};
  const socket: Socket = nodeConnect({
    host: address,
    port,
    ...(source.address !== undefined ? { localAddress: source.address } : {}),
    ...(source.port !== undefined ? { localPort: source.port } : {}),
    noDelay: options.noDelay ?? false,
    keepAlive: options.keepAlive ?? false,
  });
  let onAbort = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      onAbort = () => {
        socket.destroy();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", () => resolve());
      socket.once("error", (err: Error) => reject(sourceError(err, source)));
    });
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return new NodeConn(socket);
}

/** EADDRINUSE/EADDRNOTAVAIL name the source we were asked to bind. */
function sourceError(err: Error, source: SourceOptions): Error {
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  // Deno 2.9.6's node:net reports a bind(2) to an address this host does not
  // have as EINVAL where Linux (and Node) say EADDRNOTAVAIL.
  const notHere = code === "EADDRNOTAVAIL" || (code === "EINVAL" && syscall === "bind");
  if (notHere && source.address !== undefined) {
    return new NetError(
      "io",
      `source address "${source.address}" is not an address of this host (EADDRNOTAVAIL)`,
      { op: "bind", address: source.address, cause: err },
    );
  }
  if (code === "EADDRINUSE" && source.port !== undefined) {
    const where = joinHostPort(source.address ?? "0.0.0.0", source.port);
    return new NetError(
      "io",
      `source port ${source.port} is already in use (EADDRINUSE)`,
      { op: "bind", address: where, cause: err },
    );
  }
  return err;
}

/**
 * The dial stack: resolve → TCP connect → the optional layers (a proxy tunnel,
 * a PROXY-protocol header, a STARTTLS dialog, TLS), each timed in its own
 * phase and failing with its own operation. Like Go's `x/net/proxy` dialers
 * and `crypto/tls.Client`: a layer is a function from a Conn to a Conn, so the
 * engines never know which layers a connection went through.
 *
 * @module
 */

import { NetError } from "../errors.ts";
import type { Conn, PhaseTimings } from "./conn.ts";
import { dial, type DialOptions } from "./dial.ts";
import { toNetError } from "./net_errors.ts";
import { joinHostPort } from "./address.ts";

/** The phase a layer's time is added to. */
export type LayerPhase = "proxy" | "tls";

/** One layer on top of TCP. */
export interface Layer {
  /** The operation named in its errors (`proxy`, `proxy-header`, `starttls`, `tls`). */
  op: string;
  /** Which timing it counts into; unset: none of its own. */
  phase?: LayerPhase;
  /** Turns the Conn below into the Conn above (or the same one); rejects with `signal.reason` on abort. */
  run(conn: Conn, signal: AbortSignal): Promise<Conn>;
}

/** Options of {@linkcode dialStack}. */
export interface StackOptions extends DialOptions {
  /**
   * Where TCP connects when it is not the target itself (a proxy), as host and
   * port; the first layer then tunnels to the target. @default {undefined}
   */
  firstHop?: { host: string; port: number; label: string };
  /** The layers, bottom up. @default {[]} */
  layers?: Layer[];
}

const PHASE_FIELD: Record<LayerPhase, keyof PhaseTimings> = {
  proxy: "proxyMs",
  tls: "tlsMs",
};

/**
 * Dials `host:port` through every layer. One deadline (`connectTimeoutMs`,
 * earliest with the parent signal) covers the whole stack; it no longer applies
 * once the top layer is ready. A failure closes what was opened and is one
 * {@linkcode NetError} naming the layer's operation and address.
 *
 * @example Plain TCP (no layers) with a 2 s deadline
 * ```ts
 * import { dialStack } from "./stack.ts";
 * const conn = await dialStack("127.0.0.1", 7, { connectTimeoutMs: 2000 });
 * console.log(conn.facts.timings);
 * conn.close();
 * ```
 */
export async function dialStack(host: string, port: number, options: StackOptions = {}): Promise<
  Conn
> {
  const layers = options.layers ?? [];
  const started = performance.now();
  const hop = options.firstHop ?? { host, port, label: "" };
  const first = options.firstHop === undefined
    ? await dial(hop.host, hop.port, options)
    : await dial(hop.host, hop.port, options).catch((err) => {
      throw unreachableHop(err, options.firstHop!);
    });
  if (layers.length === 0) return first;
  const parent = options.signal;
  const timeoutMs = options.connectTimeoutMs;
  const timeout = timeoutMs === undefined
    ? undefined
    : AbortSignal.timeout(Math.max(1, timeoutMs - (performance.now() - started)));
  const signals = [parent, timeout].filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0
    ? new AbortController().signal
    : signals.length === 1
    ? signals[0]!
    : AbortSignal.any(signals);
  const timings = first.facts.timings;
  if (options.firstHop !== undefined) timings.proxyMs = timings.connectMs;
  let conn = first;
  for (const layer of layers) {
    const layerStarted = performance.now();
    try {
      signal.throwIfAborted();
      conn = await layer.run(conn, signal);
    } catch (err) {
      conn.close();
      first.close();
      const address = err instanceof NetError ? err.address : `${hop.host}:${hop.port}`;
      if (parent?.aborted) {
        const reason = parent.reason;
        throw reason instanceof DOMException
          ? toNetError(reason, { op: layer.op, address, timer: "deadline" })
          : reason;
      }
      if (timeout?.aborted) {
        throw toNetError(timeout.reason, {
          op: layer.op,
          address,
          timer: "connect",
          timeoutMs: timeoutMs!, // set: the timeout exists only with it
          flag: options.timeoutFlag ?? "--connect-timeout",
        });
      }
      throw toNetError(err, { op: layer.op, address });
    }
    if (layer.phase !== undefined) {
      const field = PHASE_FIELD[layer.phase];
      timings[field] = (timings[field] ?? 0) + performance.now() - layerStarted;
    }
  }
  return conn;
}

/**
 * A first hop (a proxy) that cannot be reached is the proxy's failure (exit 8),
 * not the target's; timeouts, interrupts and sandbox denials keep their kind.
 */
function unreachableHop(err: unknown, hop: { host: string; port: number; label: string }): unknown {
  if (!(err instanceof NetError)) return err;
  if (!["refused", "reset", "unreachable", "dns", "closed", "io"].includes(err.kind)) return err;
  const detail = err.message.replace(/^[^:]*"[^"]*": /, "");
  return new NetError("proxy", `cannot reach the ${hop.label}: ${detail}`, {
    op: "proxy",
    address: joinHostPort(hop.host, hop.port),
    cause: err,
  });
}

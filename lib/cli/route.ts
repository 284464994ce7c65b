/**
 * How a command reaches its target, read once from the shared flags (proxy,
 * PROXY header, source address and port, TLS and STARTTLS), and turned into
 * the dial stack's options: the first hop and the layers. Every dialing
 * command uses it, so each layer is wired in one place.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { hostKind, joinHostPort } from "../net/address.ts";
import type { Conn } from "../net/conn.ts";
import type { DialOptions, SourceOptions } from "../net/dial.ts";
import type { MuxDialer } from "../net/mux_types.ts";
import { dialStack, type Layer, type StackOptions } from "../net/stack.ts";
import type { TlsLayerOptions } from "../net/tls.ts";
import { type ParsedArgs, stringFlag } from "./args.ts";
import { proxyPlan, type ProxySpec } from "./proxy_flags.ts";
import { parseHost, parsePort } from "./target.ts";
import { type TlsPlan, tlsPlan } from "./tls_flags.ts";

/*
 * The layers' modules load only when a route uses them: most runs are plain
 * TCP, and evaluating them cost each start-up ~1-2 ms of CPU with the kernel
 * table (bench/RESULTS.md; starttls.ts is loaded anyway, for its protocol
 * list in tls_flags.ts). routePlan() awaits the ones its plan needs before any
 * socket opens, so no import runs between a deadline and its effect.
 */
let proxyModule: Promise<typeof import("../net/proxy.ts")> | undefined;
let proxyHeaderModule: Promise<typeof import("../net/proxy_header.ts")> | undefined;
let starttlsModule: Promise<typeof import("../net/starttls.ts")> | undefined;
let tlsModule: Promise<typeof import("../net/tls.ts")> | undefined;
let certDaysModule: Promise<typeof import("../net/cert_days.ts")> | undefined;
const loadProxy = () => proxyModule ??= import("../net/proxy.ts");
const loadProxyHeader = () => proxyHeaderModule ??= import("../net/proxy_header.ts");
const loadStarttls = () => starttlsModule ??= import("../net/starttls.ts");
const loadTls = () => tlsModule ??= import("../net/tls.ts");
const loadCertDays = () => certDaysModule ??= import("../net/cert_days.ts");

/** What the shared route flags asked for. */
export interface RoutePlan {
  /** The proxy to tunnel through, or null. */
  proxy: ProxySpec | null;
  /** PROXY protocol header version, or null. */
  proxyProtocol: 1 | 2 | null;
  /** The local end to bind, or null. */
  source: SourceOptions | null;
  /** TLS (and STARTTLS), or null. */
  tls: TlsPlan | null;
}

/** Options of {@linkcode routePlan}. */
export interface RoutePlanOptions {
  /** The target host (SNI defaults to it when it is a name). */
  host: string;
}

/**
 * Reads `--proxy`, `--proxy-auth`, `--proxy-protocol`, `-s`, `-p` and the TLS
 * flags; throws a {@linkcode UsageError} naming the first bad value. Opens no
 * socket (it reads the PEM files of `--cacert`, `--cert`, `--key`).
 *
 * @example
 * ```ts
 * import { routePlan } from "./route.ts";
 * const plan = await routePlan({ values: { source: "127.0.0.2" }, positionals: [] }, {
 *   host: "127.0.0.1",
 * });
 * console.log(plan.source); // { address: "127.0.0.2" }
 * ```
 */
export async function routePlan(args: ParsedArgs, options: RoutePlanOptions): Promise<RoutePlan> {
  const proxies = proxyPlan(args);
  const source = sourcePlan(args);
  if (source !== null && proxies?.proxy) {
    // The source binds the socket to the proxy; say so rather than surprise.
    if (source.port !== undefined) {
      throw new UsageError("conflicting flags --source-port and --proxy: give only one");
    }
  }
  const plan: RoutePlan = {
    proxy: proxies?.proxy ?? null,
    proxyProtocol: proxies?.proxyProtocol ?? null,
    source,
    tls: await tlsPlan(args, { host: options.host }),
  };
  await Promise.all([
    plan.proxy !== null ? loadProxy() : null,
    plan.proxyProtocol !== null ? loadProxyHeader() : null,
    plan.tls?.starttls !== undefined ? loadStarttls() : null,
    plan.tls !== null ? loadTls() : null,
  ]);
  return plan;
}

function sourcePlan(args: ParsedArgs): SourceOptions | null {
  const address = stringFlag(args, "source");
  const port = stringFlag(args, "source-port");
  if (address === undefined && port === undefined) return null;
  const source: SourceOptions = {};
  if (address !== undefined) {
    const host = flagged("--source", () => parseHost(address));
    if (hostKind(host) === "name") {
      throw new UsageError(`invalid --source "${address}": must be an IP address of this host`);
    }
    source.address = host;
  }
  if (port !== undefined) source.port = flagged("--source-port", () => parsePort(port));
  return source;
}

/** Runs a value parser; its UsageError names the flag (`invalid host "x"` -> `invalid --source "x"`). */
function flagged<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    // parseHost() and parsePort() throw only UsageError.
    const { message } = err as UsageError;
    throw new UsageError(message.replace(/^invalid (host|port) /, `invalid ${flag} `));
  }
}

/**
 * The dial stack's options for `host:port` along `route`, on top of `base`
 * (deadline, signal, family, socket options).
 *
 * @example Plain TCP with a source address
 * ```ts
 * import { stackOptions } from "./route.ts";
 * const options = stackOptions("127.0.0.1", 7, {
 *   route: { proxy: null, proxyProtocol: null, source: { address: "127.0.0.2" }, tls: null },
 *   base: { connectTimeoutMs: 2000 },
 * });
 * console.log(options.source, options.layers?.length); // { address: "127.0.0.2" } 0
 * ```
 */
export function stackOptions(
  host: string,
  port: number,
  options: { route: RoutePlan; base: DialOptions },
): StackOptions {
  const { route, base } = options;
  const stack: StackOptions = { ...base, layers: [] };
  if (route.source !== null) stack.source = route.source;
  const layers: Layer[] = [];
  const target = joinHostPort(host, port);
  const proxy = route.proxy;
  if (proxy !== null) {
    stack.firstHop = { host: proxy.host, port: proxy.port, label: `${proxy.type} proxy` };
    layers.push({
      op: "proxy",
      phase: "proxy",
      run: async (conn: Conn, signal: AbortSignal) =>
        (await loadProxy()).proxyLayer(conn, {
          type: proxy.type,
          proxyAddress: proxy.address,
          targetHost: host,
          targetPort: port,
          ...(proxy.username !== undefined ? { username: proxy.username } : {}),
          ...(proxy.password !== undefined ? { password: proxy.password } : {}),
          signal,
        }),
    });
  }
  if (route.proxyProtocol !== null) {
    const version = route.proxyProtocol;
    layers.push({
      op: "proxy-header",
      run: async (conn: Conn, signal: AbortSignal) =>
        (await loadProxyHeader()).proxyHeaderLayer(conn, { version, signal }),
    });
  }
  const tls = route.tls;
  if (tls !== null) {
    const starttls = tls.starttls;
    if (starttls !== undefined) {
      layers.push({
        op: "starttls",
        phase: "tls",
        run: async (conn: Conn, signal: AbortSignal) => {
          await (await loadStarttls()).startTls(conn, {
            protocol: starttls,
            address: target,
            signal,
          });
          return conn;
        },
      });
    }
    const tlsOptions: TlsLayerOptions = { address: target, insecure: tls.insecure };
    if (tls.servername !== undefined) tlsOptions.servername = tls.servername;
    if (tls.alpn !== undefined) tlsOptions.alpn = tls.alpn;
    if (tls.ca !== undefined) tlsOptions.ca = tls.ca;
    if (tls.cert !== undefined) tlsOptions.cert = tls.cert;
    if (tls.key !== undefined) tlsOptions.key = tls.key;
    layers.push({
      op: "tls",
      phase: "tls",
      run: async (conn: Conn, signal: AbortSignal) =>
        (await loadTls()).tlsLayer(conn, { ...tlsOptions, signal }),
    });
  }
  stack.layers = layers;
  return stack;
}

/**
 * True when `route` asks for nothing beyond a plain TCP connect: the engines
 * then keep their default dialer (the fast path of a port sweep).
 *
 * @example
 * ```ts
 * import { isPlainRoute } from "./route.ts";
 * console.log(isPlainRoute({ proxy: null, proxyProtocol: null, source: null, tls: null })); // true
 * ```
 */
export function isPlainRoute(route: RoutePlan): boolean {
  return route.proxy === null && route.proxyProtocol === null && route.source === null &&
    route.tls === null;
}

/** Options of {@linkcode routeDialer}. */
export interface RouteDialerOptions {
  /** The route every connection takes. */
  route: RoutePlan;
  /** Dial options besides the signal and Nagle (family, keep-alive). @default {{}} */
  base?: DialOptions;
  /** With TLS: a leaf with fewer whole days left fails the dial (kind `tls`). @default {undefined} */
  certDays?: number;
}

/**
 * A readiness-loop dialer (lib/net/mux.ts) that runs the whole dial stack
 * along `route`, or undefined for a plain route (the loop's own TCP dialer is
 * faster). Each target's name (`DialTarget.name`) is what the proxy is asked
 * for and what TLS sends as SNI and verifies (unless `--sni` fixed it); the
 * loop's deadline reaches every layer through the signal.
 *
 * @example
 * ```ts
 * import { routeDialer } from "./route.ts";
 * const dialer = routeDialer({
 *   route: { proxy: null, proxyProtocol: null, source: null, tls: { insecure: true } },
 * });
 * console.log(typeof dialer); // function
 * ```
 */
export function routeDialer(options: RouteDialerOptions): MuxDialer | undefined {
  const { route, certDays } = options;
  if (isPlainRoute(route) && certDays === undefined) return undefined;
  const base = options.base ?? {};
  // Asked for now, awaited after the dial (a failed load is reported there, not here).
  if (certDays !== undefined) loadCertDays().catch(() => {});
  return async (target, signal) => {
    let perTarget = route;
    const tls = route.tls;
    if (tls !== null && tls.servername === undefined && hostKind(target.name) === "name") {
      // RFC 6066 section 3: SNI is the name the user gave, never an IP literal.
      perTarget = { ...route, tls: { ...tls, servername: target.name } };
    }
    const stack = stackOptions(target.name, target.port, {
      route: perTarget,
      base: { ...base, signal, noDelay: target.noDelay },
    });
    const conn = await dialStack(target.hostname, target.port, stack);
    const facts = conn.facts.tls;
    if (certDays !== undefined && facts !== null) {
      const err = (await loadCertDays()).certDaysError(facts, {
        days: certDays,
        address: joinHostPort(target.name, target.port),
      });
      if (err !== null) {
        conn.close();
        throw err;
      }
    }
    return conn;
  };
}

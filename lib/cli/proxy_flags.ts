/**
 * The proxy flags shared by the commands that dial: `--proxy URL`,
 * `--proxy-auth USER:PASS` and `--proxy-protocol v1|v2`, validated before any
 * socket opens. No environment variable (`ALL_PROXY`, `HTTPS_PROXY`) is read:
 * the permission set has no `env`, and a proxy is used only when asked for.
 *
 * A password never appears in a message: every quoted URL has it replaced by
 * `***`, and {@linkcode ProxySpec.password} is not enumerable (so
 * `JSON.stringify` and `console.log` of a plan leave it out).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { joinHostPort } from "../net/address.ts";
import type { ProxyType } from "../net/proxy.ts";
import { type ParsedArgs, stringFlag } from "./args.ts";
import type { FlagTable } from "./flags.ts";
import { parseHost, parsePort } from "./target.ts";

/**
 * The proxy and source flags as a flag table (see lib/cli/flags.ts): add
 * `...ROUTE_FLAGS` to a command's table.
 *
 * @example
 * ```ts
 * import { ROUTE_FLAGS } from "./proxy_flags.ts";
 * console.log(ROUTE_FLAGS.map((flag) => flag.name).join(" "));
 * ```
 */
export const ROUTE_FLAGS: FlagTable = [
  {
    name: "proxy",
    type: "string",
    value: "URL",
    help: "reach the target through a proxy: socks5, socks5h, socks4, socks4a or http " +
      "(CONNECT) as SCHEME://[USER:PASS@]HOST[:PORT]; default port 1080, http 8080",
    doc: "reach the target through a proxy, `SCHEME://[USER:PASS@]HOST[:PORT]`: `socks5` " +
      "(we resolve the target), `socks5h` (the proxy resolves it), `socks4`, `socks4a` (the " +
      "proxy resolves it), `http` (CONNECT); default port 1080, 8080 for http; no environment " +
      "variable is read",
    section: "proxy",
  },
  {
    name: "proxy-auth",
    type: "string",
    value: "USER:PASS",
    help: "credentials for --proxy instead of the URL (socks4/4a: the user id only)",
    section: "proxy",
  },
  {
    name: "proxy-protocol",
    type: "string",
    value: "VERSION",
    help:
      "send a HAProxy PROXY protocol header, VERSION v1 (text) or v2 (binary), with our real addresses",
    section: "proxy",
  },
  {
    name: "source",
    short: "s",
    type: "string",
    value: "ADDR",
    help: "bind the local end to ADDR (as nc -s)",
    section: "connection",
  },
  {
    name: "source-port",
    short: "p",
    type: "string",
    value: "PORT",
    help: "bind the local end to PORT (as nc -p)",
    section: "connection",
  },
];

/**
 * Default ports: SOCKS' registered port 1080; 8080 for HTTP, the usual proxy port.
 *
 * @example
 * ```ts
 * import { DEFAULT_PROXY_PORTS } from "./proxy_flags.ts";
 * console.log(DEFAULT_PROXY_PORTS.http); // 8080
 * ```
 */
export const DEFAULT_PROXY_PORTS: Readonly<Record<ProxyType, number>> = {
  socks5: 1080,
  socks5h: 1080,
  socks4: 1080,
  socks4a: 1080,
  http: 8080,
};

/** A validated `--proxy`. */
export interface ProxySpec {
  /** The protocol (the URL scheme). */
  type: ProxyType;
  /** The proxy's host, without brackets. */
  host: string;
  /** The proxy's port (the default when the URL has none). */
  port: number;
  /** `host:port`, for `facts.proxy.address` and messages. */
  address: string;
  /** The URL with the password replaced by `***`: safe to print. */
  display: string;
  /** User name (SOCKS4/4a: the user id). @default {undefined} */
  username?: string;
  /** Password; not enumerable, never printed. @default {undefined} */
  password?: string;
}

/** What the proxy flags asked for. */
export interface ProxyPlan {
  /** The proxy to tunnel through, or null. */
  proxy: ProxySpec | null;
  /** PROXY protocol header version to send, or null. */
  proxyProtocol: 1 | 2 | null;
}

const SCHEMES: readonly ProxyType[] = ["socks5", "socks5h", "socks4", "socks4a", "http"];

/**
 * Reads `--proxy`, `--proxy-auth` and `--proxy-protocol`; null when none of
 * them was given. Throws a {@linkcode UsageError} naming the bad value (with
 * any password shown as `***`) for: an unknown scheme, a path, query or
 * fragment, a bad host or port, undecodable percent escapes, credentials both
 * in the URL and in `--proxy-auth`, `--proxy-auth` without `--proxy`, a
 * password for socks4/socks4a (they carry only a user id), a socks5 user
 * without a password (RFC 1929 needs both, 1-255 bytes each), and a
 * `--proxy-protocol` other than `v1` or `v2`.
 *
 * @example
 * ```ts
 * import { proxyPlan } from "./proxy_flags.ts";
 * const plan = proxyPlan({ values: { proxy: "socks5h://u:p%40ss@[::1]" }, positionals: [] });
 * console.log(plan?.proxy?.address, plan?.proxy?.password); // [::1]:1080 p@ss
 * console.log(plan?.proxy?.display); // socks5h://u:***@[::1]
 * ```
 */
export function proxyPlan(args: ParsedArgs): ProxyPlan | null {
  const url = stringFlag(args, "proxy");
  const auth = stringFlag(args, "proxy-auth");
  const protocol = stringFlag(args, "proxy-protocol");
  if (url === undefined && auth === undefined && protocol === undefined) return null;
  if (auth !== undefined && url === undefined) {
    throw new UsageError("--proxy-auth needs --proxy");
  }
  return {
    proxy: url === undefined ? null : parseProxyUrl(url, auth),
    proxyProtocol: protocol === undefined ? null : parseProxyProtocol(protocol),
  };
}

function parseProxyProtocol(text: string): 1 | 2 {
  if (text === "v1") return 1;
  if (text === "v2") return 2;
  throw new UsageError(`invalid --proxy-protocol "${text}": use v1 or v2`);
}

/** The URL with everything between the user's `:` and the last `@` replaced by `***`. */
function redact(text: string): string {
  const start = text.indexOf("://");
  const at = text.lastIndexOf("@");
  if (start < 0 || at < start) return text;
  const colon = text.indexOf(":", start + 3);
  if (colon < 0 || colon > at) return text;
  return `${text.slice(0, colon + 1)}***${text.slice(at)}`;
}

function decode(part: string, what: string, bad: (why: string) => UsageError): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw bad(`the ${what} has a bad percent escape`);
  }
}

function parseProxyUrl(text: string, auth: string | undefined): ProxySpec {
  const display = redact(text);
  const bad = (why: string) => new UsageError(`invalid --proxy URL "${display}": ${why}`);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1];
  if (scheme === undefined) throw bad("use SCHEME://[USER:PASS@]HOST[:PORT]");
  const type = scheme.toLowerCase() as ProxyType;
  if (!SCHEMES.includes(type)) {
    throw bad(`unknown scheme "${scheme}" (use ${SCHEMES.join(", ")})`);
  }
  let rest = text.slice(scheme.length + 3);
  // The last "@" ends the user info, so a password may hold any character.
  const at = rest.lastIndexOf("@");
  const userinfo = at < 0 ? undefined : rest.slice(0, at);
  rest = rest.slice(at + 1);
  if (rest.endsWith("/")) rest = rest.slice(0, -1);
  if (/[/?#]/.test(rest)) throw bad("a proxy URL has no path, query or fragment");
  const { host, port } = hostPort(rest, type, bad);
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    if (auth !== undefined) {
      throw bad("credentials are both in the URL and in --proxy-auth: give them once");
    }
    const colon = userinfo.indexOf(":");
    username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), "user name", bad);
    if (colon >= 0) password = decode(userinfo.slice(colon + 1), "password", bad);
  } else if (auth !== undefined) {
    const colon = auth.indexOf(":");
    username = colon < 0 ? auth : auth.slice(0, colon);
    if (colon >= 0) password = auth.slice(colon + 1);
  }
  checkCredentials(type, username, password, bad);
  const spec: ProxySpec = { type, host, port, address: joinHostPort(host, port), display };
  if (username !== undefined) spec.username = username;
  if (password !== undefined) {
    Object.defineProperty(spec, "password", { value: password, enumerable: false });
  }
  return spec;
}

function hostPort(
  text: string,
  type: ProxyType,
  bad: (why: string) => UsageError,
): { host: string; port: number } {
  let hostText = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw bad('an IPv6 host needs its closing "]"');
    hostText = text.slice(0, close + 1);
    const after = text.slice(close + 1);
    if (after !== "") {
      if (!after.startsWith(":")) throw bad(`unexpected "${after}" after the host`);
      portText = after.slice(1);
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0) {
      hostText = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (hostText.includes(":")) throw bad("put an IPv6 host in brackets");
    }
  }
  if (hostText === "" || hostText === "[]") throw bad("no host");
  try {
    return {
      host: parseHost(hostText),
      port: portText === undefined ? DEFAULT_PROXY_PORTS[type] : parsePort(portText),
    };
  } catch (err) {
    // parseHost and parsePort throw only UsageErrors.
    throw bad((err as UsageError).message);
  }
}

function checkCredentials(
  type: ProxyType,
  username: string | undefined,
  password: string | undefined,
  bad: (why: string) => UsageError,
): void {
  // A password never comes without a user name (even an empty one): both sources set it first.
  if (username === undefined) return;
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  if (type === "socks4" || type === "socks4a") {
    if (password !== undefined) {
      throw bad(`${type} carries only a user id, no password (use socks5 for a password)`);
    }
    if (username.includes("\0")) throw bad("the user id contains a NUL byte");
    return;
  }
  if (type === "http") {
    // RFC 7617 section 2: the user-id cannot contain a colon.
    if (username.includes(":")) throw bad('an HTTP user name cannot contain ":"');
    return;
  }
  // RFC 1929: ULEN and PLEN are 1-255.
  if (password === undefined || bytes(password) === 0 || bytes(username) === 0) {
    throw bad(`${type} needs both a user name and a password (RFC 1929)`);
  }
  if (bytes(username) > 255 || bytes(password) > 255) {
    throw bad(`${type} user name and password are at most 255 bytes each (RFC 1929)`);
  }
}

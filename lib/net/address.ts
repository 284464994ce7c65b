/**
 * Addresses: telling IP literals from names, and `host:port` text.
 *
 * @module
 */

import { isIP } from "node:net";

/** The family of a host: an IPv4 or IPv6 literal, or a name to resolve. */
export type HostKind = "ipv4" | "ipv6" | "name";

/**
 * Tells an IPv4 literal, an IPv6 literal (a zone such as `fe80::1%lo`
 * included) or a host name apart, without resolving. Uses `node:net` `isIP`,
 * which accepts only the dotted-decimal form of IPv4 (no octal, hex or
 * shortened forms: those are names here, and parseHost refuses them).
 *
 * @example
 * ```ts
 * import { hostKind } from "./address.ts";
 * console.log(hostKind("::1")); // ipv6
 * ```
 */
export function hostKind(host: string): HostKind {
  const family = isIP(host);
  return family === 4 ? "ipv4" : family === 6 ? "ipv6" : "name";
}

/**
 * Formats `ip:port`, with brackets for IPv6.
 *
 * @example
 * ```ts
 * import { joinHostPort } from "./address.ts";
 * console.log(joinHostPort("::1", 80)); // [::1]:80
 * ```
 */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

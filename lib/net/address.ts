/**
 * Addresses: telling IP literals from names, and `host:port` text.
 *
 * @module
 */

/** The family of a host: an IPv4 or IPv6 literal, or a name to resolve. */
export type HostKind = "ipv4" | "ipv6" | "name";

/** One IPv4 part in dotted decimal: 0-255, no leading zero (no octal reading). */
const V4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
/** One IPv6 group (RFC 4291 section 2.2): 1-4 hex digits. */
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** A zone after `%` (RFC 6874 section 2), with the characters `node:net` `isIP` accepts. */
const ZONE = /^[0-9a-zA-Z\-.:]+$/;

function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((part) => V4_PART.test(part) && Number(part) <= 255);
}

function isIPv6(text: string): boolean {
  const at = text.indexOf("%");
  if (at !== -1 && !ZONE.test(text.slice(at + 1))) return false;
  const core = at === -1 ? text : text.slice(0, at);
  const halves = core.split("::");
  if (halves.length > 2) return false;
  const groupsOf = (half: string) => half === "" ? [] : half.split(":");
  const left = groupsOf(halves[0]!);
  const right = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const all = [...left, ...right];
  // RFC 4291 section 2.2 form 3: a dotted IPv4 tail stands for the last two groups.
  let count = all.length;
  // Only the text's last group may be dotted: in "1.2.3.4::" it comes before the "::".
  const last = (halves.length === 2 ? right : left).at(-1);
  if (last !== undefined && last.includes(".")) {
    if (!isIPv4(last)) return false;
    all.pop();
    count += 1;
  }
  if (!all.every((group) => V6_GROUP.test(group))) return false;
  // "::" stands for at least one group of zeros.
  return halves.length === 2 ? count <= 7 : count === 8;
}

/**
 * The family of an IP literal: 4, 6 (a `%zone` allowed), or 0 for anything
 * else. The same answers as `node:net` `isIP` (tests/address_test.ts checks
 * it), without loading `node:net`, which cost every start-up ~10 ms.
 *
 * @example
 * ```ts
 * import { ipFamily } from "./address.ts";
 * console.log(ipFamily("::ffff:127.0.0.1")); // 6
 * ```
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (isIPv4(text)) return 4;
  return text.includes(":") && isIPv6(text) ? 6 : 0;
}

/**
 * Tells an IPv4 literal, an IPv6 literal (a zone such as `fe80::1%lo`
 * included) or a host name apart, without resolving. Accepts only the
 * dotted-decimal form of IPv4, like `node:net` `isIP` (no octal, hex or
 * shortened forms: those are names here, and parseHost refuses them).
 *
 * @example
 * ```ts
 * import { hostKind } from "./address.ts";
 * console.log(hostKind("::1")); // ipv6
 * ```
 */
export function hostKind(host: string): HostKind {
  const family = ipFamily(host);
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

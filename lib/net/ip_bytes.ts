/**
 * IP literals as network-order bytes, for wire formats that carry addresses
 * in binary (SOCKS, PROXY protocol v2).
 *
 * @module
 */

import { ipFamily } from "./address.ts";

/**
 * The bytes of an IP literal: 4 for IPv4 (dotted decimal), 16 for IPv6 (`::`
 * and a dotted IPv4 tail are expanded, a `%zone` is dropped). Anything else is
 * a `RangeError`.
 *
 * @example
 * ```ts
 * import { ipBytes } from "./ip_bytes.ts";
 * console.log(ipBytes("127.0.0.1")); // Uint8Array(4) [ 127, 0, 0, 1 ]
 * console.log(ipBytes("::1").length); // 16
 * ```
 */
export function ipBytes(ip: string): Uint8Array {
  const family = ipFamily(ip);
  if (family === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (family !== 6) throw new RangeError(`not an IP address: "${ip}"`);
  let text = ip.replace(/%.*$/, "");
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split(".").map(Number);
    text = text.slice(0, -tail.length) +
      `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups = rest === undefined
    ? left
    : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  });
  return out;
}

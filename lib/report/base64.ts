/**
 * Base64 of received bytes for JSON output.
 *
 * @module
 */

/**
 * Encodes bytes as standard base64 (RFC 4648 section 4).
 *
 * @example
 * ```ts
 * import { encodeBase64 } from "./base64.ts";
 * console.log(encodeBase64(new Uint8Array([0xff, 0x00]))); // /wA=
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

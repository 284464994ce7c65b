/**
 * Test data and checks shared by the transfer tests: random payloads, their
 * SHA-256, and `promtool check metrics` on exposition text.
 *
 * @module
 */

import { outputWithin } from "./cli.ts";

/** `size` random bytes (getRandomValues fills at most 64 KiB per call). */
export function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  return data;
}

/** SHA-256 of `data`, lower-case hex. */
export async function sha256(data: Uint8Array): Promise<string> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data))).toHex();
}

/** Runs the real `promtool check metrics` (Debian prometheus) on `text`. */
export async function promtool(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await outputWithin(child, 60_000);
  const dec = new TextDecoder();
  return { code, output: dec.decode(stdout) + dec.decode(stderr) };
}

/**
 * Hostile peers: a server that sends terminal escape sequences, C1 controls,
 * bidi overrides and invalid UTF-8 must not reach the terminal raw through
 * any diagnostic (-vv logs, --hex) or --json; a server that floods without
 * end is bounded by --max-bytes and the deadlines; 5,000 connections reset by
 * the peer at once in `probe` end cleanly with nothing leaked (in-process,
 * under the test sanitizers).
 *
 * @module
 */

import { runProbe } from "../lib/cli/probe.ts";
import assert from "node:assert/strict";
import { cleanStderr, outputWithin, REPO } from "./peers/cli.ts";
import { canKillSockets, startFlooder, startMassReset, startSender } from "./peers/faulty.ts";
import { collectingContext } from "./peers/context.ts";

const encoder = new TextEncoder();

/** ESC sequences (clear screen, set title, OSC 8 link, CSI via C1), BEL, DEL, NUL. */
const ESCAPES = "\x1b[2J\x1b[31mred\x1b]0;pwned\x07\x1b]8;;http://x/\x1b\\link\x07\x7f\x00";
/** C1 CSI and bidi overrides as valid UTF-8 (U+009B, U+202E, U+2066). */
const UNICODE_TRICKS = "\u009b31m \u202eevil\u202c \u2066iso\u2069";
/** Bytes that are not UTF-8: a raw 0x9B (8-bit CSI), 0xFF, an overlong '/', a lone surrogate. */
const INVALID_UTF8 = new Uint8Array([0x9b, 0x33, 0x31, 0x6d, 0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80]);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * Describes what in `bytes` a terminal could act on: C0 controls other than
 * newline (and tab), DEL, C1 controls (raw 8-bit or as UTF-8), bidi controls,
 * and invalid UTF-8. Empty when the text is safe to print.
 */
function rawHazards(bytes: Uint8Array): string[] {
  const found: string[] = [];
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return ["invalid UTF-8"];
  }
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    const bad = (code < 0x20 && ch !== "\n" && ch !== "\t") || (code >= 0x7f && code < 0xa0) ||
      (code >= 0x200e && code <= 0x200f) || (code >= 0x202a && code <= 0x202e) ||
      (code >= 0x2066 && code <= 0x2069);
    if (bad) found.push(`U+${code.toString(16).padStart(4, "0")}`);
  }
  return [...new Set(found)];
}

async function cli(
  args: string[],
): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P", "main.ts", ...args],
    cwd: REPO,
    env: { RUST_BACKTRACE: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return await outputWithin(child, 60_000);
}

const PAYLOADS: [string, Uint8Array][] = [
  ["escape sequences", encoder.encode(ESCAPES)],
  ["C1 and bidi controls", encoder.encode(UNICODE_TRICKS)],
  ["invalid UTF-8", INVALID_UTF8],
  ["all at once", concat(encoder.encode(ESCAPES + UNICODE_TRICKS), INVALID_UTF8)],
];

Deno.test("no raw control byte from a hostile peer reaches -vv, --hex or --json", async (t) => {
  for (const [name, payload] of PAYLOADS) {
    await t.step(name, async () => {
      await using peer = startSender(payload);
      const port = String(peer.port);
      // Diagnostics: -vv logs and the hex dump, both on stderr.
      const diag = await cli(["127.0.0.1", port, "-vv", "--hex", "-d", "hi\\n", "-t", "5s"]);
      assert.equal(diag.code, 0, new TextDecoder().decode(diag.stderr));
      assert.deepEqual(diag.stdout, payload, "the data itself goes to stdout unchanged");
      const stderr = encoder.encode(cleanStderr(new TextDecoder().decode(diag.stderr)));
      // Deno's own permission warning is stripped; the rest is tcpc's.
      assert.deepEqual(rawHazards(stderr), [], new TextDecoder().decode(stderr));
      assert.match(new TextDecoder().decode(stderr), /recv: \d+ bytes/);
      assert.match(new TextDecoder().decode(stderr), /^< 00000000 /m);
      // --json: one line, valid JSON, nothing raw, the data recoverable.
      const json = await cli(["127.0.0.1", port, "--json", "-d", "hi\\n", "-t", "5s"]);
      assert.equal(json.code, 0);
      assert.deepEqual(rawHazards(json.stdout.subarray(0, -1)), [], "raw control in --json");
      const record = JSON.parse(new TextDecoder().decode(json.stdout));
      const data = "text" in record.data
        ? encoder.encode(record.data.text)
        : Uint8Array.from(atob(record.data.base64), (c) => c.charCodeAt(0));
      assert.deepEqual(data, payload);
    });
  }
});

Deno.test("an endless flood is bounded by --max-bytes", async () => {
  await using peer = startFlooder();
  const { code, stdout, stderr } = await cli([
    "127.0.0.1",
    String(peer.port),
    "--max-bytes",
    "1000000",
    "-t",
    "10s",
  ]);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(stdout.length, 1_000_000);
  assert.equal(cleanStderr(new TextDecoder().decode(stderr)), "");
});

Deno.test("an endless flood is bounded by --deadline (exit 4) and -q after EOF (exit 0)", async () => {
  await using peer = startFlooder();
  const port = String(peer.port);
  let started = performance.now();
  const deadline = await cli(["127.0.0.1", port, "--deadline", "1s"]);
  const ms = performance.now() - started;
  const line = cleanStderr(new TextDecoder().decode(deadline.stderr)).trim();
  assert.equal(deadline.code, 4, line);
  assert.match(line, /^tcpc: .*deadline/);
  assert.ok(ms >= 1000 && ms < 10_000, `took ${ms} ms`);
  assert.ok(deadline.stdout.length > 0);
  started = performance.now();
  const quit = await cli(["127.0.0.1", port, "-q", "500ms"]);
  const quitMs = performance.now() - started;
  assert.equal(quit.code, 0, new TextDecoder().decode(quit.stderr));
  assert.ok(quitMs >= 500 && quitMs < 10_000, `took ${quitMs} ms`);
});

Deno.test("an endless flood with --json is capped at 1 MiB of data", async () => {
  await using peer = startFlooder();
  const { code, stdout } = await cli(["127.0.0.1", String(peer.port), "--json", "-t", "10s"]);
  assert.equal(code, 0);
  const record = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(record.bytesReceived, 1024 * 1024);
  assert.equal(record.data.text.length, 1024 * 1024);
  assert.equal(record.close, "local");
});

const noKill = await canKillSockets();

Deno.test({
  name: "tcpc probe survives 5,000 connections reset at once, leaking nothing" +
    (noKill !== null ? ` (skipped: ${noKill})` : ""),
  ignore: noKill !== null,
}, async () => {
  const COUNT = 5000;
  await using peer = startMassReset(COUNT);
  const targets = await Deno.makeTempFile({ prefix: "tcpc_hostile_" });
  const { ctx, out } = collectingContext();
  try {
    await Deno.writeTextFile(targets, `127.0.0.1:${peer.port}\n`.repeat(COUNT));
    // Each probe sends, then waits for a reply that never comes: all 5,000
    // are open when the peer resets them together.
    const code = await runProbe(
      [
        "-f",
        targets,
        "-c",
        String(COUNT),
        "-w",
        "20s",
        "--send",
        "hi",
        "--expect",
        "never",
        "--json",
      ],
      ctx,
    ).catch((error) => error);
    assert.equal(await peer.allReset, COUNT, "every connection was reset by the peer");
    assert.equal(peer.accepted, COUNT);
    assert.equal(typeof code, "number", String(code));
    assert.notEqual(code, 0);
    const records = out.flatMap((chunk) => chunk.split("\n")).filter((line) => line !== "")
      .map((line) => JSON.parse(line)).filter((r) => r.target !== undefined);
    assert.equal(records.length, COUNT, "one record per target");
    assert.ok(records.every((r) => r.state !== "open"), "no reset target is reported open");
    assert.ok(
      records.every((r) => /reset/.test(r.error?.message ?? "")),
      "every record names the reset",
    );
  } finally {
    await Deno.remove(targets);
  }
});

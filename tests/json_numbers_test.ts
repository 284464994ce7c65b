/**
 * Every number in the JSON of ping, echo and probe is rounded the same way:
 * times in ms to at most three decimals, times in us whole, rates and
 * percentages to at most one decimal, counts whole. Run through the real CLI
 * against the built-in server.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBuiltin } from "./peers/servers.ts";
import { runCli } from "./peers/cli.ts";

/** Decimals allowed for a field, by its name. */
function allowedDecimals(key: string): number {
  if (/Ms$/.test(key)) return 3;
  if (/PerSec$|Percent$/.test(key)) return 1;
  return 0;
}

/** Every number in a JSON value with more decimals than its key allows. */
function tooPrecise(value: unknown, key = "", path = "$"): string[] {
  if (typeof value === "number") {
    const text = String(value);
    const decimals = text.includes("e") ? Infinity : (text.split(".")[1] ?? "").length;
    return decimals > allowedDecimals(key) ? [`${path} = ${text}`] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => tooPrecise(v, key, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => tooPrecise(v, k, `${path}.${k}`));
  }
  return [];
}

Deno.test("tooPrecise() catches long numbers (the check can fail)", () => {
  assert.deepEqual(tooPrecise({ avgMs: 0.123456789012345 }), ["$.avgMs = 0.123456789012345"]);
  assert.deepEqual(tooPrecise({ rate: { messagesPerSec: 1.25 } }), [
    "$.rate.messagesPerSec = 1.25",
  ]);
  assert.deepEqual(tooPrecise({ rttUs: { meanUs: 885.5 } }), ["$.rttUs.meanUs = 885.5"]);
  assert.deepEqual(tooPrecise({ avgMs: 0.123, lossPercent: 33.3, count: 3 }), []);
});

Deno.test("ping --json, echo --json and probe --json round every number", async () => {
  await using server = await startBuiltin();
  const port = String(server.port);
  const ping = await runCli(["ping", "127.0.0.1", port, "-n", "3", "-i", "20ms", "--json"]);
  assert.equal(ping.code, 0, ping.err);
  const records = ping.out.trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(records.at(-1)?.type, "summary");
  assert.equal(typeof records.at(-1)?.avgMs, "number");
  const echo = await runCli(["echo", "127.0.0.1", port, "-n", "50", "-c", "3", "--json"]);
  assert.equal(echo.code, 0, echo.err);
  const report = JSON.parse(echo.out);
  assert.equal(report.messages.verified, 150);
  assert.equal(typeof report.rttUs.meanUs, "number");
  const probe = await runCli([
    "probe",
    `127.0.0.1:${port}`,
    "--send",
    "hi",
    "--expect",
    "hi",
    "--json",
  ]);
  assert.equal(probe.code, 0, probe.err);
  const all = [...records, report, JSON.parse(probe.out)];
  assert.deepEqual(all.flatMap((record) => tooPrecise(record)), []);
});

/**
 * Property tests (fast-check) for the argument and target parsers: on any
 * input they either return a value or throw a UsageError (never a TypeError, a
 * RangeError or a crash of node:util), and every accepted value round-trips
 * through its canonical text. The run count is bounded so CI time stays flat;
 * a failure prints the seed and the shrunk counterexample to replay.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { UsageError } from "../lib/errors.ts";
import { parseHost, parsePort, parseTarget } from "../lib/cli/target.ts";
import { parseDuration } from "../lib/cli/duration.ts";
import { parseEscapes } from "../lib/cli/escape.ts";
import { type ConnectPlan, planConnect } from "../lib/cli/connect.ts";

const RUNS = { numRuns: 1000 };

/** Runs `fn`; returns its value, or undefined when it threw a UsageError; rethrows anything else. */
async function usageOrAsync<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) return undefined;
    throw err;
  }
}

function usageOr<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    // (A value with a newline makes a two-line message: main.ts escapes it.)
    if (err instanceof UsageError) return undefined;
    throw err;
  }
}

/** Text that looks like what people type, plus arbitrary unicode. */
const chars = fc.constantFrom(
  ..."0123456789abcdefxyzABC.:-_[],%/ \\\t\n\r\x00\x1b\u00e9\u202e\ud800".split(""),
);
const typed = fc.oneof(
  fc.string({ unit: chars, maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ maxLength: 300 }),
);

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet).map((parts) => parts.join("."));
const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);
const hostName = fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join("."))
  .filter((name) => name.length <= 253 && !/^[\d.]+$/.test(name));
const ipv6 = fc.ipV6();
const port = fc.integer({ min: 1, max: 65535 });

Deno.test("parseHost() throws only UsageError and round-trips what it accepts", () => {
  fc.assert(
    fc.property(typed, (text) => {
      const host = usageOr(() => parseHost(text));
      if (host === undefined) return;
      assert.equal(parseHost(host), host, "accepted host parses to itself");
      if (host.includes(":")) assert.equal(parseHost(`[${host}]`), host);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.oneof(ipv4, hostName, ipv6), (host) => {
      assert.equal(parseHost(host), host);
    }),
    RUNS,
  );
});

Deno.test("parsePort() throws only UsageError and round-trips 1-65535", () => {
  fc.assert(
    fc.property(typed, (text) => {
      const value = usageOr(() => parsePort(text));
      if (value === undefined) return;
      assert.ok(Number.isInteger(value) && value >= 1 && value <= 65535, `${value}`);
      assert.equal(parsePort(String(value)), value);
    }),
    RUNS,
  );
  fc.assert(fc.property(port, (p) => assert.equal(parsePort(String(p)), p)), RUNS);
  fc.assert(
    fc.property(fc.integer(), (n) => {
      if (n < 1 || n > 65535) assert.throws(() => parsePort(String(n)), UsageError);
    }),
    RUNS,
  );
});

/** The canonical text of a target: brackets for IPv6, ports as given. */
function formatTarget(host: string, ports: string): string {
  return host.includes(":") ? `[${host}]:${ports}` : `${host}:${ports}`;
}

Deno.test("parseTarget() throws only UsageError and round-trips what it accepts", () => {
  const portsText = fc.array(
    fc.oneof(
      port.map(String),
      fc.tuple(port, fc.integer({ min: 0, max: 50 })).map(([lo, span]) =>
        `${lo}-${Math.min(65535, lo + span)}`
      ),
    ),
    { minLength: 1, maxLength: 4 },
  ).map((items) => items.join(","));
  fc.assert(
    fc.property(fc.oneof(typed, fc.tuple(typed, typed).map(([a, b]) => `${a}:${b}`)), (text) => {
      const spec = usageOr(() => parseTarget(text));
      if (spec === undefined) return;
      assert.ok(spec.ports.length > 0);
      const again = parseTarget(formatTarget(spec.host, spec.ports.join(",")));
      assert.deepEqual(again, spec);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.oneof(ipv4, hostName, ipv6), portsText, (host, ports) => {
      const spec = parseTarget(formatTarget(host, ports));
      assert.equal(spec.host, host);
      const expected = ports.split(",").flatMap((item) => {
        const [lo, hi] = item.split("-").map(Number);
        const out: number[] = [];
        for (let p = lo ?? 0; p <= (hi ?? lo ?? 0); p++) out.push(p);
        return out;
      });
      assert.deepEqual(spec.ports, expected);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.oneof(ipv4, hostName), port, port, (host, a, b) => {
      if (a > b) assert.throws(() => parseTarget(`${host}:${a}-${b}`), UsageError);
    }),
    RUNS,
  );
});

Deno.test("parseDuration() throws only UsageError and round-trips what it accepts", () => {
  fc.assert(
    fc.property(typed, (text) => {
      const ms = usageOr(() => parseDuration(text, "--timeout"));
      if (ms === undefined) return;
      assert.ok(Number.isFinite(ms) && ms >= 0 && ms <= 2_147_483_647, `${ms}`);
      // Canonical form: the value in ms, when JS prints it without an exponent.
      if (!String(ms).includes("e")) assert.equal(parseDuration(`${ms}ms`, "--timeout"), ms);
    }),
    RUNS,
  );
  const unit = fc.constantFrom(["ms", 1], ["s", 1000], ["m", 60_000], ["h", 3_600_000], ["", 1000]);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100_000 }), unit, (n, [suffix, scale]) => {
      const ms = n * (scale as number);
      const text = `${n}${suffix}`;
      if (ms > 2_147_483_647) assert.throws(() => parseDuration(text, "-t"), UsageError);
      else assert.equal(parseDuration(text, "-t"), ms);
    }),
    RUNS,
  );
});

/** Renders bytes as `\xHH` escapes (the canonical, always-valid form). */
function escapeAll(bytes: Uint8Array): string {
  return [...bytes].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
}

Deno.test("parseEscapes() throws only UsageError and round-trips bytes", () => {
  fc.assert(
    fc.property(typed, (text) => {
      const bytes = usageOr(() => parseEscapes(text, "--data"));
      if (bytes === undefined) return;
      assert.deepEqual(parseEscapes(escapeAll(bytes), "--data"), bytes);
      if (!text.includes("\\")) assert.deepEqual(bytes, new TextEncoder().encode(text));
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assert.deepEqual(parseEscapes(escapeAll(bytes), "--data"), bytes);
    }),
    RUNS,
  );
});

/** Builds a canonical command line from a plan (the inverse of planConnect). */
function argvOf(plan: ConnectPlan): string[] {
  const argv = [plan.host.includes(":") ? `[${plan.host}]` : plan.host, String(plan.port)];
  if (plan.input.kind === "data") argv.push(`--data=${escapeAll(plan.input.bytes)}`);
  if (plan.input.kind === "file") argv.push(`--file=${plan.input.path}`);
  if (plan.input.kind === "none") argv.push("--zero-io");
  const durations: [keyof ConnectPlan, string][] = [
    ["connectTimeoutMs", "connect-timeout"],
    ["ioTimeoutMs", "timeout"],
    ["idleTimeoutMs", "idle-timeout"],
    ["firstByteTimeoutMs", "first-byte-timeout"],
    ["deadlineMs", "deadline"],
    ["quitAfterEofMs", "quit-after-eof"],
  ];
  for (const [key, flag] of durations) {
    const ms = plan[key];
    if (typeof ms === "number") argv.push(`--${flag}=${ms}ms`);
  }
  if (plan.maxBytes !== undefined) argv.push(`--max-bytes=${plan.maxBytes}`);
  if (plan.family === 4) argv.push("-4");
  if (plan.family === 6) argv.push("-6");
  for (
    const [on, flag] of [
      [plan.crlf, "--crlf"],
      [plan.noDelay, "--nodelay"],
      [plan.keepAlive, "--keepalive"],
      [plan.json, "--json"],
      [plan.hex, "--hex"],
    ] as const
  ) if (on) argv.push(flag);
  for (let i = 0; i < plan.verbosity; i++) argv.push("-v");
  return argv;
}

Deno.test("planConnect() throws only UsageError and round-trips what it accepts", async () => {
  const valueFlag = fc.constantFrom(
    "-w",
    "-t",
    "-i",
    "-q",
    "-d",
    "-f",
    "--connect-timeout",
    "--timeout",
    "--idle-timeout",
    "--first-byte-timeout",
    "--deadline",
    "--quit-after-eof",
    "--data",
    "--file",
    "--max-bytes",
  );
  const boolFlag = fc.constantFrom(
    "-C",
    "-z",
    "-4",
    "-6",
    "-v",
    "-x",
    "-vv",
    "-4z",
    "--crlf",
    "--zero-io",
    "--nodelay",
    "--keepalive",
    "--json",
    "--hex",
    "--verbose",
    "--",
    "-",
    "--json=1",
    "-h",
  );
  const value = fc.oneof(
    typed,
    fc.constantFrom("1s", "250ms", "0", "1.5", "-1s", "1x", "10", "127.0.0.1", "80", "::1"),
    fc.integer({ min: 0, max: 100_000 }).map(String),
  );
  const option = fc.oneof(
    fc.tuple(valueFlag, value).map(([f, v]) => [f, v]),
    fc.tuple(valueFlag, value).map(([f, v]) => [`${f}=${v}`]),
    boolFlag.map((f) => [f]),
    value.map((v) => [v]),
  );
  const argv = fc.tuple(
    fc.oneof(ipv4, hostName, ipv6, typed),
    fc.oneof(port.map(String), typed),
    fc.array(option, { maxLength: 6 }),
  ).map(([host, p, options]) => [host, p, ...options.flat()]);
  await fc.assert(
    fc.asyncProperty(argv, async (args) => {
      const plan = await usageOrAsync(() => planConnect(args));
      if (plan === undefined) return;
      // --json turns on a 1 MiB --max-bytes: the canonical argv has it explicitly.
      assert.deepEqual(await planConnect(argvOf(plan)), plan);
    }),
    { numRuns: 2000 },
  );
  // Valid command lines built from parts are accepted and mean what they say.
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(ipv4, hostName, ipv6),
      port,
      fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: undefined }),
      fc.uint8Array({ maxLength: 32 }),
      async (host, p, timeout, data) => {
        const args = [host, String(p), `--data=${escapeAll(data)}`];
        if (timeout !== undefined) args.push("-t", `${timeout}ms`);
        const plan = await planConnect(args);
        assert.equal(plan.host, host);
        assert.equal(plan.port, p);
        assert.equal(plan.ioTimeoutMs, timeout);
        assert.deepEqual(plan.input, { kind: "data", bytes: data });
        assert.deepEqual(await planConnect(argvOf(plan)), plan);
      },
    ),
    RUNS,
  );
});

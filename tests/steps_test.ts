import assert from "node:assert/strict";
import { STEP_FLAGS, stepsFromArgs } from "../lib/cli/steps.ts";
import { parseConfig, reportFlags } from "../lib/cli/flags.ts";
import { UsageError } from "../lib/errors.ts";

const config = {
  ...STEP_FLAGS,
  ...parseConfig(reportFlags()),
  timeout: { type: "string", short: "t" },
} as const;
const parse = (...argv: string[]) => stepsFromArgs(argv, { config, host: "127.0.0.1", port: 6379 });
const summary = (...argv: string[]) => parse(...argv).steps.map((s) => `${s.kind}:${s.text}`);

Deno.test("stepsFromArgs() keeps command-line order across flag kinds", () => {
  assert.deepEqual(
    summary(
      "h",
      "1",
      "--expect",
      "220",
      "-t",
      "2s",
      "--send",
      "HELO x\\r\\n",
      "--expect-re",
      "^250",
      "--send-hex",
      "00ff",
      "--expect-hex",
      "0a",
      "--json",
    ),
    ["expect:220", "send:HELO x\\r\\n", "expect-re:^250", "send-hex:00ff", "expect-hex:0a"],
  );
});

Deno.test("stepsFromArgs() parses escapes and hex into exact bytes", () => {
  const { steps } = parse("--send=A\\r\\n", "--send-hex", "0d 0a:FF", "--expect", "\\x00");
  const bytes = steps.map((s) => "bytes" in s ? [...s.bytes] : null);
  assert.deepEqual(bytes, [[0x41, 0x0d, 0x0a], [0x0d, 0x0a, 0xff], [0]]);
});

Deno.test("stepsFromArgs() puts the --proto dialog first, wherever --proto stands", () => {
  const { steps, given, preset } = parse(
    "--send",
    "QUIT\\r\\n",
    "--proto",
    "redis",
    "--expect",
    "+OK",
  );
  assert.equal(preset?.name, "redis");
  assert.deepEqual(steps.map((s) => s.text), ["PING\\r\\n", "+PONG\\r\\n", "QUIT\\r\\n", "+OK"]);
  assert.deepEqual(given.map((s) => s.text), ["QUIT\\r\\n", "+OK"]);
});

Deno.test("stepsFromArgs() gives no steps and no preset without step flags", () => {
  assert.deepEqual(parse("h", "1", "--json"), { steps: [], given: [], preset: null });
});

Deno.test("stepsFromArgs() refuses bad values with a UsageError naming them", () => {
  const table: [string[], RegExp][] = [
    [["--send-hex", "zz"], /^invalid --send-hex "zz": not hex bytes/],
    [["--expect-hex", "abc"], /^invalid --expect-hex "abc": not hex bytes/],
    [["--expect-hex", " "], /^invalid --expect-hex " ": empty/],
    [["--expect-re", "("], /^invalid --expect-re "\(": /],
    [["--proto", "gopher"], /^invalid --proto "gopher": use one of ftp, http, imap, /],
    [["--proto", "toString"], /^invalid --proto "toString"/],
    [["--proto", "smtp", "--proto", "ftp"], /^conflicting --proto "smtp" and --proto "ftp"/],
    [["--send", ""], /^invalid --send "": empty/],
    [["--expect", "\\q"], /^invalid escape in --expect "\\q"/],
  ];
  for (const [argv, want] of table) {
    assert.throws(() => parse(...argv), (err) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, want);
      return true;
    });
  }
});

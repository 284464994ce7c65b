import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import fc from "fast-check";
import { argTokens, type ParseConfig } from "../lib/cli/arg_tokens.ts";
import { parseCommandLine } from "../lib/cli/args.ts";
import { UsageError } from "../lib/errors.ts";

const CONFIG: ParseConfig = {
  timeout: { type: "string", short: "t" },
  message: { type: "string", short: "m", multiple: true },
  json: { type: "boolean" },
  zero: { type: "boolean", short: "z" },
  verbose: { type: "boolean", short: "v", multiple: true },
  count: { type: "string" },
  x: { type: "string" },
};

/** node:util's tokens without their `index` (ours have none). */
function nodeTokens(argv: string[]): unknown[] {
  const { tokens } = parseArgs({
    args: argv,
    options: CONFIG,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  return tokens.map(({ index: _, ...token }) => token);
}

/** Pieces that make the interesting cases likely: flags, groups, dashes, "=" and values. */
const PIECE = fc.constantFrom(
  "-",
  "--",
  "-t",
  "-m",
  "-z",
  "-v",
  "-x",
  "-X",
  "--timeout",
  "--json",
  "--count",
  "--message",
  "--x",
  "--bogus",
  "=",
  "1",
  "-1",
  "a",
  "t",
  "v",
  "z",
  "__proto__",
  "toString",
  "é",
);
const ARG = fc.array(PIECE, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(""));
const ARGV = fc.array(ARG, { maxLength: 6 });

Deno.test("argTokens() gives node:util parseArgs's tokens on generated command lines", () => {
  fc.assert(
    fc.property(ARGV, (argv) => {
      assert.deepEqual(argTokens(argv, { config: CONFIG }), nodeTokens(argv));
    }),
    { numRuns: 20_000 },
  );
});

Deno.test("argTokens() keeps node:util's odd cases", () => {
  const table: [string[], unknown[]][] = [
    // A string flag alone takes the next argument, whatever it is.
    [["-t", "--json"], [{
      kind: "option",
      name: "timeout",
      rawName: "-t",
      value: "--json",
      inlineValue: false,
    }]],
    // A "-" inside a group is a "--": the flags end there.
    [["-v-z", "-t"], [
      { kind: "option", name: "verbose", rawName: "-v", value: undefined, inlineValue: undefined },
      { kind: "option-terminator" },
      { kind: "positional", value: "-z" },
      { kind: "positional", value: "-t" },
    ]],
    [["--=1"], [{
      kind: "option",
      name: "=1",
      rawName: "--=1",
      value: undefined,
      inlineValue: undefined,
    }]],
    // ... unless another "=" follows: then the first "=" splits name and value.
    [["--==1"], [{ kind: "option", name: "", rawName: "--", value: "=1", inlineValue: true }]],
  ];
  for (const [argv, expected] of table) {
    assert.deepEqual(argTokens(argv, { config: CONFIG }), expected, argv.join(" "));
    assert.deepEqual(nodeTokens(argv), expected, `node:util: ${argv.join(" ")}`);
  }
});

/** The kind of error node:util's strict parse gives, as our message words it. */
function nodeOutcome(argv: string[]): { values: unknown; positionals: string[] } | RegExp {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: CONFIG,
      allowPositionals: true,
      strict: true,
    });
    return { values: { ...values }, positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message : "";
    if (/^Unknown option/.test(message)) return /^test: unknown option '/;
    if (/argument is ambiguous/.test(message)) return /^test: option -\S+ needs a value, got "/;
    if (/argument missing$/.test(message)) return /^test: option '.*<value>' argument missing$/;
    if (/does not take an argument$/.test(message)) {
      return /^test: option '\S.*' does not take an argument$/;
    }
    throw err;
  }
}

Deno.test("parseCommandLine() accepts and refuses what node:util parseArgs does", () => {
  fc.assert(
    fc.property(ARGV, (argv) => {
      const expected = nodeOutcome(argv);
      let ours: { values: unknown; positionals: string[] } | UsageError;
      try {
        const { values, positionals } = parseCommandLine(argv, {
          options: CONFIG,
          command: "tcpc test",
        });
        ours = { values: { ...values }, positionals };
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        ours = err;
      }
      if (expected instanceof RegExp) {
        assert.ok(ours instanceof UsageError, `${JSON.stringify(argv)} parsed`);
        assert.match(ours.message, expected);
      } else {
        assert.deepEqual(ours, expected);
      }
    }),
    { numRuns: 20_000 },
  );
});

Deno.test("parseCommandLine() names the value a string flag took from the next argument", () => {
  const parse = (argv: string[]) => parseCommandLine(argv, { options: CONFIG, command: "tcpc t" });
  assert.throws(
    () => parse(["-vt", "-1s"]),
    new UsageError(`t: option -t needs a value, got "-1s" (write --timeout=-1s to pass it)`),
  );
  assert.throws(
    () => parse(["--timeout", "1", "--timeout", "-2"]),
    new UsageError(`t: option --timeout needs a value, got "-2" (write --timeout=-2 to pass it)`),
  );
  assert.equal(parse(["-t", "-"]).values.timeout, "-");
  assert.throws(
    () => parse(["-z=1"]),
    new UsageError(`t: unknown option '-='`),
  );
});

import assert from "node:assert/strict";
import {
  boolFlag,
  countFlag,
  durationFlag,
  intFlag,
  parseCommandLine,
  type ParsedArgs,
  stringFlag,
  stringsFlag,
} from "../lib/cli/args.ts";
import { UsageError } from "../lib/errors.ts";

const OPTIONS = {
  timeout: { type: "string", short: "t" },
  message: { type: "string", short: "m", multiple: true },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v", multiple: true },
  count: { type: "string" },
} as const;

function parse(argv: string[]): ParsedArgs {
  return parseCommandLine(argv, { options: OPTIONS, command: "tcpc test" });
}

Deno.test("parseCommandLine() returns flags and positionals", () => {
  const args = parse(["host", "-vv", "--timeout", "2s", "-m", "a", "-m", "b", "80", "--json"]);
  assert.deepEqual(args.positionals, ["host", "80"]);
  assert.equal(stringFlag(args, "timeout"), "2s");
  assert.deepEqual(stringsFlag(args, "message"), ["a", "b"]);
  assert.equal(stringFlag(args, "message"), "b");
  assert.equal(boolFlag(args, "json"), true);
  assert.equal(countFlag(args, "verbose"), 2);
  assert.equal(durationFlag(args, "timeout"), 2000);
  assert.deepEqual(parse(["--", "-v"]).positionals, ["-v"]);
  assert.equal(stringFlag(parse(["-t1s"]), "timeout"), "1s");
  assert.equal(stringFlag(parse(["--timeout=-1s"]), "timeout"), "-1s");
});

Deno.test("parseCommandLine() turns every parse error into one UsageError line", () => {
  const table: [string[], string][] = [
    [["--bogus"], "--bogus"],
    [["-X"], "-X"],
    [["--timeout"], "--timeout"],
    [["-t"], "-t"],
    [["--json=yes"], "--json"],
    [["-t", "-1s"], "-1s"],
  ];
  for (const [argv, named] of table) {
    assert.throws(() => parse(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.ok(err.message.startsWith("test: "), err.message);
      assert.ok(err.message.includes(named), `${argv.join(" ")}: ${err.message}`);
      assert.ok(!err.message.includes("\n"), err.message);
      assert.ok(!err.message.endsWith("."), err.message);
      return true;
    });
  }
});

Deno.test("flag readers give defaults for absent flags", () => {
  const args = parse([]);
  assert.equal(stringFlag(args, "timeout"), undefined);
  assert.deepEqual(stringsFlag(args, "message"), []);
  assert.equal(boolFlag(args, "json"), false);
  assert.equal(countFlag(args, "verbose"), 0);
  assert.equal(durationFlag(args, "timeout"), undefined);
  assert.equal(intFlag(args, "count"), undefined);
});

Deno.test("durationFlag() names the flag in its error", () => {
  assert.throws(
    () => durationFlag(parse(["-t", "soon"]), "timeout"),
    new UsageError(
      `invalid duration "soon" for --timeout: use e.g. 250ms, 2s, 1.5s, 1m or a number of seconds`,
    ),
  );
});

Deno.test("intFlag() checks whole numbers against the range", () => {
  assert.equal(intFlag(parse(["--count", "5"]), "count", { min: 1 }), 5);
  assert.equal(intFlag(parse(["--count", "0"]), "count"), 0);
  assert.equal(intFlag(parse(["--count", "10"]), "count", { max: 10 }), 10);
  for (const text of ["0", "11", "-1", "1.5", "1e3", "", "x", "9007199254740993"]) {
    assert.throws(
      () => intFlag(parse([`--count=${text}`]), "count", { min: 1, max: 10 }),
      (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.ok(err.message.includes(`"${text}"`) && err.message.includes("--count"));
        return true;
      },
      text,
    );
  }
});

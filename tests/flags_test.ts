import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import {
  DIAL_FLAGS,
  flagLabel,
  type FlagTable,
  helpFlagLines,
  helpText,
  orderedFlags,
  parseConfig,
  readmeTable,
  reportFlags,
  withHelp,
} from "../lib/cli/flags.ts";
import { exitCodesHelp } from "../lib/cli/exit_help.ts";
import { EXIT_CODES } from "../lib/errors.ts";

const TABLE: FlagTable = [
  {
    name: "count",
    short: "n",
    type: "string",
    value: "N",
    help: "how many",
    doc: "how many | at most",
    section: "load",
  },
  ...DIAL_FLAGS,
  { name: "tag", type: "string", multiple: true, value: "TEXT", help: "a tag", section: "data" },
  ...reportFlags(),
];

Deno.test("parseConfig() gives node:util parseArgs options that parse the table's flags", () => {
  const { values } = parseArgs({
    args: ["-n", "3", "--tag", "a", "--tag=b", "-4", "-vv", "--json", "-w", "2s"],
    options: parseConfig(TABLE),
    strict: true,
  });
  assert.deepEqual({ ...values }, {
    count: "3",
    tag: ["a", "b"],
    ipv4: true,
    verbose: [true, true],
    json: true,
    "connect-timeout": "2s",
  });
});

Deno.test("parseConfig() refuses a table that lists a name or a short name twice", () => {
  assert.throws(() => parseConfig([...TABLE, ...DIAL_FLAGS]), /--connect-timeout listed twice/);
  assert.throws(
    () =>
      parseConfig([...TABLE, {
        name: "other",
        short: "n",
        type: "boolean",
        help: "",
        section: "data",
      }]),
    /-n listed twice/,
  );
});

Deno.test("flagLabel() writes short, long and value like help does", () => {
  assert.deepEqual(TABLE.map(flagLabel).slice(0, 5), [
    "-n, --count N",
    "-w, --connect-timeout DUR",
    "-4, --ipv4",
    "-6, --ipv6",
    "--tag TEXT",
  ]);
});

Deno.test("orderedFlags() groups by section in SECTIONS order and keeps table order within", () => {
  assert.deepEqual(orderedFlags(TABLE).map((f) => f.name), [
    "tag",
    "count",
    "connect-timeout",
    "ipv4",
    "ipv6",
    "json",
    "verbose",
    "help",
  ]);
});

Deno.test("helpFlagLines() prints headings and aligns help at one column, wrapped to 80", () => {
  const lines = helpFlagLines([
    ...TABLE,
    {
      name: "a-very-long-flag-name",
      type: "string",
      value: "VALUE",
      help: "words ".repeat(30).trim(),
      section: "data",
    },
  ]);
  assert.equal(lines[0], "Data:");
  assert.equal(lines[1], "      --tag TEXT             a tag");
  assert.match(lines[2] ?? "", /^ {6}--a-very-long-flag-name VALUE {2}words/);
  for (const line of lines) assert.ok(line.length <= 80, `too long: ${line}`);
  const more = lines.slice(3).filter((line) => line.startsWith(" ".repeat(29) + "words"));
  assert.ok(more.length >= 2, "long help continues on lines aligned at column 29");
  assert.ok(lines.includes("Deadlines (DUR: 250ms, 2s, 1.5s, 1m, or a number of seconds):"));
  assert.ok(lines.includes("  -n, --count N              how many"));
  assert.equal(lines.at(-1), "  -h, --help                 this help");
});

Deno.test("helpText() joins usage, summary, flags and footer", () => {
  const text = helpText({
    usage: "Usage: tcpc x",
    summary: "Does x.",
    table: reportFlags({ json: false }),
    footer: "Exit codes: 0 ok",
  });
  assert.equal(
    text,
    [
      "Usage: tcpc x",
      "",
      "Does x.",
      "",
      "Output:",
      "  -v, --verbose              -v info, -vv debug (on stderr)",
      "  -h, --help                 this help",
      "",
      "Exit codes: 0 ok",
    ].join("\n"),
  );
});

Deno.test("readmeTable() renders aligned Markdown rows from doc (or help), pipes escaped", () => {
  const rows = readmeTable(TABLE);
  assert.match(rows[0] ?? "", /^\| flag +\| meaning +\|$/);
  assert.match(rows[1] ?? "", /^\| -+ \| -+ \|$/);
  assert.equal(rows.length, TABLE.length + 2);
  assert.ok(rows.some((row) => /^\| `-n, --count N` +\| how many \\\| at most +\|$/.test(row)));
  assert.ok(rows.some((row) => /^\| `-h, --help` +\| print the help and exit +\|$/.test(row)));
  assert.equal(new Set(rows.map((row) => row.length)).size, 1, "every row padded alike");
});

Deno.test("withHelp() rewords a shared flag for one command and leaves the group alone", () => {
  const ping = withHelp(DIAL_FLAGS, { "connect-timeout": { help: "time for each connect" } });
  assert.equal(ping[0]?.help, "time for each connect");
  assert.equal(ping[0]?.short, "w");
  assert.notEqual(DIAL_FLAGS[0]?.help, "time for each connect");
  assert.throws(() => withHelp(DIAL_FLAGS, { nope: { help: "x" } }), /no flag --nope/);
});

Deno.test("withHelp() keeps the README text unless the change gives a new help or doc", () => {
  const base: FlagTable = [
    { name: "a", type: "boolean", help: "old", doc: "old, longer", section: "output" },
  ];
  const [moved] = withHelp(base, { a: { section: "data" } });
  assert.deepEqual(moved, {
    name: "a",
    type: "boolean",
    help: "old",
    doc: "old, longer",
    section: "data",
  });
  const [redoc] = withHelp(base, { a: { doc: "new README text" } });
  assert.equal(redoc?.help, "old");
  assert.equal(redoc?.doc, "new README text");
  const [rehelp] = withHelp(base, { a: { help: "new" } });
  assert.equal(rehelp?.help, "new");
  assert.equal("doc" in (rehelp ?? {}), false);
});

Deno.test("helpFlagLines() prints a flag without help text as its label alone", () => {
  const lines = helpFlagLines([{ name: "quiet", type: "boolean", help: "", section: "output" }]);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.trimEnd(), "      --quiet");
});

Deno.test("exitCodesHelp() lists every exit code of lib/errors.ts once, with overrides", () => {
  const text = exitCodesHelp({ meanings: { 0: "all good" }, omit: [6] });
  assert.ok(text.startsWith("Exit codes: 0 all good; 1 refused, reset, unreachable"));
  for (const line of text.split("\n")) assert.ok(line.length <= 80, line);
  const codes = [...text.replaceAll("\n", " ").matchAll(/(?:: |; )(\d+) /g)].map((m) =>
    Number(m[1])
  );
  const expected = [...new Set(Object.values(EXIT_CODES))].filter((c) => c !== 6).sort((a, b) =>
    a - b
  );
  assert.deepEqual(codes, expected);
  assert.match(exitCodesHelp(), /7 TLS failed; 8 the proxy failed/);
  assert.doesNotMatch(exitCodesHelp(), /\d\n/, "a code never ends a line");
});

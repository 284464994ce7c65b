/**
 * README's flag tables and every command's `--help` come from one table per
 * command (lib/cli/flags.ts): README must hold exactly the generated table
 * (`deno task readme` rewrites it), and the real CLI's `--help` must list the
 * same flags.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readmeTable } from "../lib/cli/flags.ts";
import { markedTable, README_TABLES, rewriteReadme } from "../tools/readme.ts";
import { REPO, runCli } from "./peers/cli.ts";

const README = await Deno.readTextFile(`${REPO}/README.md`);

/** Flag labels of `--help` lines: `  -w, --connect-timeout DUR  give up...`. */
function helpLabels(help: string): string[] {
  return help.split("\n")
    .map((line) => /^ {2}(?: {4})?((?:-\S, )?--\S+(?: \S+)?)(?: {2,}|$)/.exec(line)?.[1]?.trim())
    .filter((label): label is string => label !== undefined)
    .map((label) => label.trim());
}

/** Flag labels of README rows: | `-w, --connect-timeout DUR` | ... |. */
function readmeLabels(rows: string[]): string[] {
  return rows.map((row) => /^\| `([^`]+)`/.exec(row)?.[1]?.replaceAll("\\|", "|"))
    .filter((label): label is string => label !== undefined);
}

Deno.test("README holds exactly the generated flag table of every command", () => {
  for (const [name, table] of Object.entries(README_TABLES)) {
    const rows = markedTable(README, name);
    assert.ok(rows !== undefined, `README.md has no <!-- flags:${name} --> markers`);
    assert.deepEqual(rows, readmeTable(table), `README table of ${name}: run deno task readme`);
  }
  assert.equal(rewriteReadme(README), README, "deno task readme would change README.md");
});

Deno.test("tcpc COMMAND --help lists the same flags as README's table", async () => {
  for (const [name, table] of Object.entries(README_TABLES)) {
    const { code, out, err } = await runCli([name, "--help"]);
    assert.equal(code, 0, `${name} --help: ${err}`);
    const fromHelp = helpLabels(out);
    const fromReadme = readmeLabels(markedTable(README, name) ?? []);
    assert.equal(fromHelp.length, table.length, `${name}: ${fromHelp.join(" | ")}`);
    assert.deepEqual(fromHelp, fromReadme, `${name}: --help and README differ`);
  }
});

Deno.test("tcpc demo --help and tcpc --help answer with exit 0", async () => {
  const demo = await runCli(["demo", "--help"]);
  assert.equal(demo.code, 0, demo.err);
  assert.deepEqual(helpLabels(demo.out), ["-h, --help"]);
  const top = await runCli(["--help"]);
  assert.equal(top.code, 0, top.err);
  assert.deepEqual(helpLabels(top.out), readmeLabels(markedTable(README, "connect") ?? []));
  assert.match(top.out, /^Exit codes: 0 ok; 1 /m);
});

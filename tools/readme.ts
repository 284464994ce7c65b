/**
 * README's flag tables are generated from each command's flag table: this
 * rewrites the text between `<!-- flags:NAME -->` and `<!-- /flags:NAME -->`
 * in place. Run it with `deno task readme` after changing a table;
 * tests/readme_flags_test.ts fails while README and the tables differ.
 *
 * @module
 */

import { CONNECT_TABLE } from "../lib/cli/connect.ts";
import { ECHO_TABLE } from "../lib/cli/echo.ts";
import { type FlagTable, readmeTable } from "../lib/cli/flags.ts";
import { KERNEL_TABLE } from "../lib/cli/kernel.ts";
import { LISTEN_TABLE } from "../lib/cli/listen.ts";
import { PING_TABLE } from "../lib/cli/ping.ts";
import { PROBE_TABLE } from "../lib/cli/probe.ts";
import { SERVE_TABLE } from "../lib/cli/serve.ts";
import { WHY_TABLE } from "../lib/cli/why.ts";

/**
 * Every command whose flags README lists, by the name in its markers.
 *
 * @example
 * ```ts
 * import { README_TABLES } from "./readme.ts";
 * console.log(Object.keys(README_TABLES));
 * ```
 */
export const README_TABLES: Readonly<Record<string, FlagTable>> = {
  connect: CONNECT_TABLE,
  serve: SERVE_TABLE,
  listen: LISTEN_TABLE,
  echo: ECHO_TABLE,
  probe: PROBE_TABLE,
  ping: PING_TABLE,
  kernel: KERNEL_TABLE,
  why: WHY_TABLE,
};

function markers(name: string): { open: string; close: string } {
  return { open: `<!-- flags:${name} -->`, close: `<!-- /flags:${name} -->` };
}

/**
 * The table rows README holds between a command's markers (blank lines
 * dropped), or undefined when the markers are missing.
 *
 * @example
 * ```ts
 * import { markedTable } from "./readme.ts";
 * const readme = "<!-- flags:x -->\n\n| a |\n\n<!-- /flags:x -->\n";
 * console.log(markedTable(readme, "x")); // ["| a |"]
 * ```
 */
export function markedTable(readme: string, name: string): string[] | undefined {
  const { open, close } = markers(name);
  const start = readme.indexOf(open);
  const end = readme.indexOf(close);
  if (start < 0 || end < start) return undefined;
  return readme.slice(start + open.length, end).split("\n").filter((line) => line.trim() !== "");
}

/**
 * README with every command's marked table replaced by the generated one.
 * Throws when a command's markers are missing.
 *
 * @example
 * ```ts
 * import { rewriteReadme } from "./readme.ts";
 * const readme = await Deno.readTextFile("README.md");
 * console.log(rewriteReadme(readme) === readme ? "up to date" : "changed");
 * ```
 */
export function rewriteReadme(readme: string): string {
  let text = readme;
  for (const [name, table] of Object.entries(README_TABLES)) {
    const { open, close } = markers(name);
    const start = text.indexOf(open);
    const end = text.indexOf(close);
    if (start < 0 || end < start) throw new Error(`README.md: no ${open} ... ${close}`);
    const body = `\n\n${readmeTable(table).join("\n")}\n\n`;
    text = text.slice(0, start + open.length) + body + text.slice(end);
  }
  return text;
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  const before = await Deno.readTextFile(path);
  const after = rewriteReadme(before);
  if (after !== before) await Deno.writeTextFile(path, after);
  // deno-lint-ignore no-console
  console.log(after === before ? "README.md: flag tables up to date" : "README.md: rewritten");
}

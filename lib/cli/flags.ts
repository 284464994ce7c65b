/**
 * One table of flags per command, and the three things made from it: the
 * parse config (lib/cli/arg_tokens.ts), the `--help` text and the README table.
 * A command's table is its own flags plus shared groups spread into it
 * (`...DIAL_FLAGS`, `...reportFlags()`), so a group is written once and a
 * command gains it with one line.
 *
 * @module
 */

import type { ParseConfig } from "./arg_tokens.ts";

/**
 * The headings of `--help`, in the order they print. A flag names its
 * section; a command's help shows the sections its flags use.
 *
 * @example
 * ```ts
 * import { SECTIONS } from "./flags.ts";
 * console.log(SECTIONS.deadlines);
 * ```
 */
export const SECTIONS = {
  targets: "Targets:",
  data: "Data:",
  messages: "Messages (TEXT takes escapes \\r \\n \\t \\0 \\\\ \\xHH):",
  check: "Check (TEXT takes escapes \\r \\n \\t \\0 \\\\ \\xHH):",
  load: "Load:",
  deadlines: "Deadlines (DUR: 250ms, 2s, 1.5s, 1m, or a number of seconds):",
  tls: "TLS:",
  proxy: "Proxy:",
  connection: "Connection:",
  options: "Options:",
  output: "Output:",
} as const;

/** A heading of `--help`: a key of {@linkcode SECTIONS}. */
export type Section = keyof typeof SECTIONS;

/**
 * The escapes every TEXT value takes (lib/cli/escape.ts), as help shows them.
 *
 * @example
 * ```ts
 * import { ESCAPES } from "./flags.ts";
 * console.log(`send TEXT (escapes ${ESCAPES})`);
 * ```
 */
export const ESCAPES = "\\r \\n \\t \\0 \\\\ \\xHH";

/** One flag: how it parses, and how `--help` and README describe it. */
export interface FlagSpec {
  /** Long name without `--`, also the key of the parsed value. */
  name: string;
  /** One-character short name without `-`. @default {undefined} */
  short?: string;
  /** `string` takes a value, `boolean` does not. */
  type: "string" | "boolean";
  /** May be given more than once (values collect in order). @default {false} */
  multiple?: boolean;
  /** The value's placeholder in help, e.g. `DUR`, `N`, `TEXT`. @default {undefined} */
  value?: string;
  /** One or two sentences for `--help`; wrapped to the terminal column. */
  help: string;
  /** The README cell, when it says more than `help`. @default {help} */
  doc?: string;
  /** Its heading in `--help`. */
  section: Section;
}

/** A command's flags, in the order help lists them within a section. */
export type FlagTable = readonly FlagSpec[];

/**
 * `-h/--help`: every command has it.
 *
 * @example
 * ```ts
 * import { HELP_FLAG } from "./flags.ts";
 * console.log(HELP_FLAG.short); // h
 * ```
 */
export const HELP_FLAG: FlagSpec = {
  name: "help",
  short: "h",
  type: "boolean",
  help: "this help",
  doc: "print the help and exit",
  section: "output",
};

/**
 * `-w/--connect-timeout DUR`, for commands that dial but choose no address
 * family (probe). Most commands take all of {@linkcode DIAL_FLAGS}.
 *
 * @example
 * ```ts
 * import { CONNECT_TIMEOUT_FLAG } from "./flags.ts";
 * console.log(CONNECT_TIMEOUT_FLAG.short); // w
 * ```
 */
export const CONNECT_TIMEOUT_FLAG: FlagSpec = {
  name: "connect-timeout",
  short: "w",
  type: "string",
  value: "DUR",
  help: "give up connecting after DUR (default: the kernel's limit)",
  section: "deadlines",
};

/**
 * The flags every command that dials shares: `-w/--connect-timeout`,
 * `-4/--ipv4`, `-6/--ipv6` (read `-4`/`-6` with `familyFlag`). Commands whose
 * `-w` means more say so with {@linkcode withHelp}.
 *
 * @example A command's table with the dial flags
 * ```ts
 * import { DIAL_FLAGS, type FlagTable, reportFlags } from "./flags.ts";
 * const TABLE: FlagTable = [...DIAL_FLAGS, ...reportFlags()];
 * ```
 */
export const DIAL_FLAGS: FlagTable = [
  CONNECT_TIMEOUT_FLAG,
  {
    name: "ipv4",
    short: "4",
    type: "boolean",
    help: "IPv4 addresses only",
    section: "connection",
  },
  {
    name: "ipv6",
    short: "6",
    type: "boolean",
    help: "IPv6 addresses only",
    section: "connection",
  },
];

/** Options of {@linkcode reportFlags}. */
export interface ReportFlagsOptions {
  /**
   * Help of `--json`; false: the command has no JSON output.
   * @default {"one JSON object on stdout instead of the text report"}
   */
  json?: string | false;
  /** Help of `-v`; false: the command has no log. @default {"-v info, -vv debug (on stderr)"} */
  verbose?: string | false;
  /** README text of `-v`. @default {verbose, or "`-v` info, `-vv` debug (on stderr)"} */
  verboseDoc?: string;
}

/**
 * The flags every command that reports shares: `--json`, `-v/--verbose`
 * (repeatable) and `-h/--help`, with the command's own wording.
 *
 * @example
 * ```ts
 * import { reportFlags } from "./flags.ts";
 * const flags = reportFlags({ json: "JSON Lines: one record per target" });
 * console.log(flags.map((f) => f.name)); // ["json", "verbose", "help"]
 * ```
 */
export function reportFlags(options: ReportFlagsOptions = {}): FlagTable {
  const flags: FlagSpec[] = [];
  if (options.json !== false) {
    flags.push({
      name: "json",
      type: "boolean",
      help: options.json ?? "one JSON object on stdout instead of the text report",
      section: "output",
    });
  }
  if (options.verbose !== false) {
    const verbose = options.verbose ?? "-v info, -vv debug (on stderr)";
    flags.push({
      name: "verbose",
      short: "v",
      type: "boolean",
      multiple: true,
      help: verbose,
      doc: options.verboseDoc ??
        (options.verbose === undefined ? "`-v` info, `-vv` debug (on stderr)" : verbose),
      section: "output",
    });
  }
  flags.push(HELP_FLAG);
  return flags;
}

/**
 * A copy of a shared group with some flags described differently (what the
 * flag does is the same; its default or its detail differs per command).
 *
 * @example ping's `-w` has a default of its own
 * ```ts
 * import { DIAL_FLAGS, withHelp } from "./flags.ts";
 * const flags = withHelp(DIAL_FLAGS, {
 *   "connect-timeout": { help: "time for each connect (default 2s)" },
 * });
 * ```
 */
export function withHelp(
  table: FlagTable,
  changes: Readonly<Record<string, Partial<Pick<FlagSpec, "help" | "doc" | "section">>>>,
): FlagTable {
  for (const name of Object.keys(changes)) {
    if (!table.some((flag) => flag.name === name)) throw new Error(`withHelp: no flag --${name}`);
  }
  return table.map((flag) => {
    const change = changes[flag.name];
    if (change === undefined) return flag;
    // A new help replaces a doc that only repeated the old help.
    const doc = change.doc ?? (change.help !== undefined ? undefined : flag.doc);
    const { doc: _, ...rest } = flag;
    const merged: FlagSpec = { ...rest, ...change };
    if (doc !== undefined) merged.doc = doc;
    return merged;
  });
}

/**
 * The parse config of a table (the shape `node:util` `parseArgs` takes too). Throws when two flags share
 * a name or a short name: a table is checked the first time it is used.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * import { parseConfig, reportFlags } from "./flags.ts";
 * const { values } = parseCommandLine(["-vv"], { options: parseConfig(reportFlags()) });
 * console.log(values.verbose); // [true, true]
 * ```
 */
export function parseConfig(table: FlagTable): ParseConfig {
  const config: ParseConfig = {};
  const shorts = new Set<string>();
  for (const flag of table) {
    if (config[flag.name] !== undefined) throw new Error(`flag --${flag.name} listed twice`);
    if (flag.short !== undefined) {
      if (shorts.has(flag.short)) throw new Error(`short flag -${flag.short} listed twice`);
      shorts.add(flag.short);
    }
    config[flag.name] = {
      type: flag.type,
      ...(flag.short !== undefined ? { short: flag.short } : {}),
      ...(flag.multiple === true ? { multiple: true } : {}),
    };
  }
  return config;
}

/**
 * How a flag is written in help and README: `-w, --connect-timeout DUR`.
 *
 * @example
 * ```ts
 * import { DIAL_FLAGS, flagLabel } from "./flags.ts";
 * console.log(flagLabel(DIAL_FLAGS[0]!)); // -w, --connect-timeout DUR
 * ```
 */
export function flagLabel(flag: FlagSpec): string {
  const long = `--${flag.name}${flag.value !== undefined ? ` ${flag.value}` : ""}`;
  return flag.short !== undefined ? `-${flag.short}, ${long}` : long;
}

/**
 * A table in the order help and README list it: by section (the order of
 * {@linkcode SECTIONS}), then as the table lists them.
 *
 * @example
 * ```ts
 * import { DIAL_FLAGS, orderedFlags } from "./flags.ts";
 * console.log(orderedFlags(DIAL_FLAGS).map((f) => f.name)); // connect-timeout ipv4 ipv6
 * ```
 */
export function orderedFlags(table: FlagTable): FlagSpec[] {
  const order = Object.keys(SECTIONS);
  return table
    .map((flag, index) => ({ flag, index }))
    .sort((a, b) =>
      order.indexOf(a.flag.section) - order.indexOf(b.flag.section) || a.index - b.index
    )
    .map(({ flag }) => flag);
}

/** Where help text starts: like GNU tools, after a 29-character flag column. */
const HELP_COLUMN = 29;
/** Help lines wrap before this width (a terminal's 80 columns). */
const HELP_WIDTH = 80;

/** Splits text into lines at spaces: the first at most `first` characters, the rest `width`. */
function wrap(text: string, first: number, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    const room = lines.length === 0 ? first : width;
    if (line !== "" && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/**
 * The flag lines of `--help`: one heading per section in use (in the order
 * of {@linkcode SECTIONS}), one aligned line per flag, help text wrapped.
 *
 * @example
 * ```ts
 * import { DIAL_FLAGS, helpFlagLines } from "./flags.ts";
 * console.log(helpFlagLines(DIAL_FLAGS).join("\n"));
 * ```
 */
export function helpFlagLines(table: FlagTable): string[] {
  const lines: string[] = [];
  let section: Section | undefined;
  for (const flag of orderedFlags(table)) {
    if (flag.section !== section) {
      section = flag.section;
      lines.push(SECTIONS[section]);
    }
    const label = `  ${flag.short !== undefined ? "" : "    "}${flagLabel(flag)}`;
    const first = label.length + 2 <= HELP_COLUMN ? label.padEnd(HELP_COLUMN) : `${label}  `;
    const text = wrap(flag.help, HELP_WIDTH - first.length, HELP_WIDTH - HELP_COLUMN);
    lines.push(`${first}${text[0] ?? ""}`);
    for (const more of text.slice(1)) lines.push(`${" ".repeat(HELP_COLUMN)}${more}`);
  }
  return lines;
}

/** Options of {@linkcode helpText}. */
export interface HelpTextOptions {
  /** The usage line(s), e.g. `Usage: tcpc ping HOST PORT [options]`. */
  usage: string;
  /** What the command does: paragraphs separated by blank lines, kept as written. */
  summary: string;
  /** The command's flags. */
  table: FlagTable;
  /** Text after the flags (e.g. the exit codes). @default {""} */
  footer?: string;
}

/**
 * The whole `--help` text of a command: usage, summary, the flags grouped
 * by section, then the footer.
 *
 * @example
 * ```ts
 * import { helpText, reportFlags } from "./flags.ts";
 * console.log(helpText({
 *   usage: "Usage: tcpc example",
 *   summary: "Does nothing.",
 *   table: reportFlags(),
 * }));
 * ```
 */
export function helpText(options: HelpTextOptions): string {
  const parts = [options.usage, "", options.summary, "", ...helpFlagLines(options.table)];
  if (options.footer !== undefined && options.footer !== "") parts.push("", options.footer);
  return parts.join("\n");
}

/**
 * The Markdown table of a command's flags for README: a header, then one row
 * per flag with its label and its `doc` (or `help`). Columns are padded the
 * way `deno fmt` pads them, so the generated text is already formatted.
 *
 * @example
 * ```ts
 * import { DIAL_FLAGS, readmeTable } from "./flags.ts";
 * console.log(readmeTable(DIAL_FLAGS).join("\n"));
 * ```
 */
export function readmeTable(table: FlagTable): string[] {
  const rows = orderedFlags(table).map((flag) => [
    // A `|` in a value (`v1|v2`) would end the cell: GFM tables take `\|` even in code.
    `\`${flagLabel(flag).replaceAll("|", "\\|")}\``,
    (flag.doc ?? flag.help).replaceAll("|", "\\|"),
  ]);
  const header = ["flag", "meaning"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)];
}

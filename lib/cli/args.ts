/**
 * A thin layer over `node:util` `parseArgs` that turns its errors into one-line
 * {@linkcode UsageError}s, and small readers for typed flag values.
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "../errors.ts";
import { QUOTE_MAX_CHARS, quoteValue } from "./quote.ts";
import type { CommandContext } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { unknownFlagMessage } from "./hints.ts";

/** The parsed flags and positionals of one command line. */
export interface ParsedArgs {
  /** Flag values by long name: string, boolean, or arrays for repeatable flags. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** The positional arguments. */
  positionals: string[];
}

/** Options of {@linkcode parseCommandLine}. */
export interface ParseCommandLineOptions {
  /** The flags this command accepts. */
  options: ParseArgsOptionsConfig;
  /** The command's name, for messages. @default {"tcpc"} */
  command?: string;
}

/**
 * Parses `argv` strictly: unknown flags, missing values and values given to
 * boolean flags throw a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const { values } = parseCommandLine(["-v", "host", "80"], {
 *   options: { verbose: { type: "boolean", short: "v" } },
 * });
 * console.log(values.verbose); // true
 * ```
 */
export function parseCommandLine(argv: string[], options: ParseCommandLineOptions): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: options.options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedArgs["values"], positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] ?? "" : String(err);
    const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1];
    const detail = unknown !== undefined
      ? unknown.length > QUOTE_MAX_CHARS
        // Too long to be a netcat habit: cut it, with its length after the quote.
        ? `unknown option ${quoteValue(unknown, { mark: "'" })}`
        : unknownFlagMessage(unknown, { accepts: Object.keys(options.options) })
      : ambiguousValue(argv, options.options, message) ??
        // node:util appends a hint about "--" that reads as noise here.
        sentenceCase(
          message.replace(/\. To specify a positional argument.*$/, "").replace(/\.$/, "")
            // node:util quotes the whole argument ('--x=<100 kB>'): cut it like ours.
            .replace(/'([^']*)'/g, (_, quoted: string) => quoteValue(quoted, { mark: "'" })),
        );
    throw new UsageError(`${(options.command ?? "tcpc").replace(/^tcpc /, "")}: ${detail}`);
  }
}

/** node:util's messages start upper case; ours continue a `command: ` prefix. */
function sentenceCase(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** `-t -1s`: parseArgs only says "ambiguous"; name the value and how to pass it. */
function ambiguousValue(
  argv: string[],
  config: ParseArgsOptionsConfig,
  message: string,
): string | undefined {
  const flag = /^Option '([^']+)' argument is ambiguous/.exec(message)?.[1];
  if (flag === undefined) return undefined;
  const value = argv[argv.indexOf(flag) + 1];
  const long = flag.startsWith("--")
    ? flag
    : `--${Object.keys(config).find((name) => `-${config[name]?.short}` === flag) ?? flag}`;
  if (value === undefined) return `option ${flag} needs a value`;
  return `option ${flag} needs a value, got ${quoteValue(value)} (write ${long}=${
    value.length <= QUOTE_MAX_CHARS ? value : "VALUE"
  } to pass it)`;
}

/**
 * The last string value of a flag, or undefined when absent.
 *
 * @example
 * ```ts
 * import { stringFlag } from "./args.ts";
 * console.log(stringFlag({ values: { file: "a.txt" }, positionals: [] }, "file")); // a.txt
 * ```
 */
export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (Array.isArray(value)) {
    const last = value.at(-1);
    return typeof last === "string" ? last : undefined;
  }
  return typeof value === "string" ? value : undefined;
}

/**
 * Every string value of a repeatable flag, in order.
 *
 * @example
 * ```ts
 * import { stringsFlag } from "./args.ts";
 * console.log(stringsFlag({ values: { message: ["a", "b"] }, positionals: [] }, "message"));
 * ```
 */
export function stringsFlag(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string");
}

/**
 * True when a boolean flag was given.
 *
 * @example
 * ```ts
 * import { boolFlag } from "./args.ts";
 * console.log(boolFlag({ values: { json: true }, positionals: [] }, "json")); // true
 * ```
 */
export function boolFlag(args: ParsedArgs, name: string): boolean {
  const value = args.values[name];
  return Array.isArray(value) ? value.length > 0 : value === true;
}

/**
 * How many times a repeatable boolean flag was given (`-vv` -> 2).
 *
 * @example
 * ```ts
 * import { countFlag } from "./args.ts";
 * console.log(countFlag({ values: { verbose: [true, true] }, positionals: [] }, "verbose")); // 2
 * ```
 */
export function countFlag(args: ParsedArgs, name: string): number {
  const value = args.values[name];
  if (Array.isArray(value)) return value.length;
  return value === true ? 1 : 0;
}

/**
 * A duration flag in milliseconds, or undefined when absent.
 *
 * @example
 * ```ts
 * import { durationFlag } from "./args.ts";
 * console.log(durationFlag({ values: { timeout: "2s" }, positionals: [] }, "timeout")); // 2000
 * ```
 */
export function durationFlag(args: ParsedArgs, name: string): number | undefined {
  const text = stringFlag(args, name);
  return text === undefined ? undefined : parseDuration(text, `--${name}`);
}

/** Options of {@linkcode intFlag}. */
export interface IntFlagOptions {
  /** Smallest accepted value. @default {0} */
  min?: number;
  /** Largest accepted value. @default {Number.MAX_SAFE_INTEGER} */
  max?: number;
}

/**
 * A whole-number flag, checked against a range, or undefined when absent.
 *
 * @example
 * ```ts
 * import { intFlag } from "./args.ts";
 * console.log(intFlag({ values: { count: "5" }, positionals: [] }, "count", { min: 1 })); // 5
 * ```
 */
export function intFlag(
  args: ParsedArgs,
  name: string,
  options: IntFlagOptions = {},
): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) return undefined;
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(
      `invalid value ${quoteValue(text)} for --${name}: must be a whole number ${min}-${max}`,
    );
  }
  return value;
}

/**
 * The address family asked for with `-4` (flag `ipv4`) or `-6` (flag `ipv6`);
 * both at once is a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { familyFlag } from "./args.ts";
 * console.log(familyFlag({ values: { ipv6: true }, positionals: [] })); // 6
 * ```
 */
export function familyFlag(args: ParsedArgs): 4 | 6 | undefined {
  const v4 = boolFlag(args, "ipv4");
  const v6 = boolFlag(args, "ipv6");
  if (v4 && v6) throw new UsageError("conflicting flags -4 and -6: give only one");
  return v4 ? 4 : v6 ? 6 : undefined;
}

/** What {@linkcode prepareCommand} needs to know about a command. */
export interface CommandSpec<P> {
  /** The command's name for messages, e.g. `tcpc ping`. */
  command: string;
  /** Its flags; must include `help` and `verbose`. */
  options: ParseArgsOptionsConfig;
  /** Its usage text, printed for `--help`. */
  help: string;
  /** Validates the parsed flags into a plan (throws {@linkcode UsageError}). */
  plan: (args: ParsedArgs) => P | Promise<P>;
}

/**
 * The start every command shares: parse strictly, answer `--help`, validate
 * into a plan, and set the log level from `-v`. Resolves to null when help was
 * printed (the command then returns 0).
 *
 * @example
 * ```ts
 * import { countFlag, prepareCommand } from "./args.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const plan = await prepareCommand(["-v"], ctx, {
 *   command: "tcpc example",
 *   options: { verbose: { type: "boolean", short: "v", multiple: true } },
 *   help: "Usage: tcpc example",
 *   plan: (args) => ({ verbosity: countFlag(args, "verbose") }),
 * });
 * if (plan === null) console.log("help printed");
 * ```
 */
export async function prepareCommand<P extends { verbosity: number }>(
  argv: string[],
  ctx: CommandContext,
  spec: CommandSpec<P>,
): Promise<P | null> {
  const args = parseCommandLine(argv, { options: spec.options, command: spec.command });
  if (boolFlag(args, "help")) {
    ctx.out(spec.help);
    return null;
  }
  const plan = await spec.plan(args);
  await ctx.setVerbosity(plan.verbosity);
  return plan;
}

/**
 * The strict command-line parser every command uses, with one-line
 * {@linkcode UsageError}s, and small readers for typed flag values. It follows
 * `node:util` `parseArgs` (strict, positionals allowed) without importing it:
 * the first `node:` module costs each start-up ~5 ms (bench/RESULTS.md).
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { QUOTE_MAX_CHARS, quoteValue } from "./quote.ts";
import type { CommandContext } from "./context.ts";
import { parseDuration } from "./duration.ts";
import { unknownFlagMessage } from "./hints.ts";
import { type ArgToken, argTokens, type ParseConfig } from "./arg_tokens.ts";

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
  options: ParseConfig;
  /** The command's name, for messages. @default {"tcpc"} */
  command?: string;
}

/**
 * Parses `argv` strictly: unknown flags, missing values, values given to
 * boolean flags and a string flag's value that looks like a flag (`-t -1s`)
 * throw a {@linkcode UsageError}. The first bad flag, in command-line order,
 * is the one reported.
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
  const config = options.options;
  // No prototype: a flag named like an Object method stays a plain key.
  const values: ParsedArgs["values"] = Object.create(null);
  const positionals: string[] = [];
  for (const token of argTokens(argv, { config })) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const problem = optionProblem(token, config);
    if (problem !== undefined) {
      throw new UsageError(`${(options.command ?? "tcpc").replace(/^tcpc /, "")}: ${problem}`);
    }
    if (token.name === "__proto__") continue;
    const value = token.value ?? true;
    if (config[token.name]!.multiple === true) {
      const list = values[token.name];
      if (Array.isArray(list)) list.push(value);
      else values[token.name] = [value];
    } else {
      values[token.name] = value;
    }
  }
  return { values, positionals };
}

/** What is wrong with one option token, in node:util's order of checks; undefined when nothing. */
function optionProblem(
  token: Extract<ArgToken, { kind: "option" }>,
  config: ParseConfig,
): string | undefined {
  if (!Object.hasOwn(config, token.name)) {
    return unknownFlagMessage(token.rawName, { accepts: Object.keys(config) });
  }
  const { type, short } = config[token.name]!;
  const names = `${short ? `-${short}, ` : ""}--${token.name}`;
  if (type === "string" && token.value === undefined) {
    return `option ${quoteValue(`${names} <value>`, { mark: "'" })} argument missing`;
  }
  if (type === "boolean" && token.value !== undefined) {
    return `option ${quoteValue(names, { mark: "'" })} does not take an argument`;
  }
  const value = token.value;
  if (token.inlineValue === false && value !== undefined && value.length > 1 && value[0] === "-") {
    // `-t -1s`: a value that looks like a flag is taken only when written `--timeout=-1s`.
    return `option ${token.rawName} needs a value, got ${
      quoteValue(value)
    } (write --${token.name}=${value.length <= QUOTE_MAX_CHARS ? value : "VALUE"} to pass it)`;
  }
  return undefined;
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
  options: ParseConfig;
  /** Builds its usage text, printed for `--help` (built only then: it costs start-up). */
  help: () => string;
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
 *   help: () => "Usage: tcpc example",
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
    ctx.out(spec.help());
    return null;
  }
  const plan = await spec.plan(args);
  await ctx.setVerbosity(plan.verbosity);
  return plan;
}

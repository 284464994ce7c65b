/**
 * Splits a command line into option and positional tokens, the way
 * `node:util` `parseArgs` does (Node's documented rules: `--x`, `--x=v`,
 * `--x v`, `-x`, `-xv` groups, `-wVALUE`, `--` ending the flags). It is our
 * own because importing the first `node:` module makes every start-up load
 * Deno's Node compatibility layer (~5 ms per run, bench/RESULTS.md, issue 16).
 * tests/arg_tokens_test.ts checks it against `parseArgs` on generated lines.
 *
 * @module
 */

/** One flag of a {@linkcode ParseConfig}. */
export interface ParseOption {
  /** Whether the flag takes a value (`string`) or not (`boolean`). */
  type: "string" | "boolean";
  /** Its one-character short name (`v` for `-v`). @default {undefined} (none) */
  short?: string;
  /** Whether it may be given more than once (its values then form an array). @default {false} */
  multiple?: boolean;
}

/** The flags a command accepts, by long name (the shape `node:util` `parseArgs` takes). */
export type ParseConfig = Record<string, ParseOption>;

/** One token of a command line. */
export type ArgToken =
  | {
    kind: "option";
    /** The long name (for an unknown short flag, its character). */
    name: string;
    /** As written: `--timeout`, `-t` (also inside a group `-vt`). */
    rawName: string;
    /** Its value, or undefined when none was given. */
    value: string | undefined;
    /** True for `--x=v` and `-xv`, false for `--x v`, undefined without a value. */
    inlineValue: boolean | undefined;
  }
  | { kind: "positional"; value: string }
  | { kind: "option-terminator" };

/** Options of {@linkcode argTokens}. */
export interface ArgTokensOptions {
  /** The flags the command accepts (decides which flags take the next argument as value). */
  config: ParseConfig;
}

function longForShort(short: string, config: ParseConfig): string {
  for (const name in config) {
    if (Object.hasOwn(config, name) && config[name]!.short === short) return name;
  }
  return short;
}

function takesValue(name: string, config: ParseConfig): boolean {
  return Object.hasOwn(config, name) && config[name]!.type === "string";
}

/** `--` seen: the rest are positionals. */
function endOfFlags(tokens: ArgToken[], rest: readonly string[]): void {
  tokens.push({ kind: "option-terminator" });
  for (const value of rest) tokens.push({ kind: "positional", value });
}

/** What node:util makes of a short group's characters from `from` on: `-x` each, `-xVALUE` at a string flag. */
function groupRest(arg: string, from: number, config: ParseConfig): string[] {
  const parts: string[] = [];
  for (let at = from; at < arg.length; at++) {
    if (takesValue(longForShort(arg.charAt(at), config), config) && at < arg.length - 1) {
      parts.push(`-${arg.slice(at)}`);
      break;
    }
    parts.push(`-${arg.charAt(at)}`);
  }
  return parts;
}

/**
 * The tokens of `argv`, in order. It never throws: an unknown flag is a
 * token too (the caller decides). A string flag written alone (`-t`,
 * `--timeout`) takes the next argument as its value, whatever it looks like;
 * in a group, a string flag takes the rest of the group (`-vt5` = `-v -t 5`).
 *
 * @example Tokens of a line
 * ```ts
 * import { argTokens } from "./arg_tokens.ts";
 * const config = { verbose: { type: "boolean", short: "v" }, wait: { type: "string", short: "w" } } as const;
 * console.log(argTokens(["-vw5", "host"], { config }).map((t) => t.kind));
 * // [ "option", "option", "positional" ]
 * ```
 */
export function argTokens(argv: readonly string[], options: ArgTokensOptions): ArgToken[] {
  const { config } = options;
  const tokens: ArgToken[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === "--") {
      endOfFlags(tokens, argv.slice(index + 1));
      break;
    }
    if (arg.length < 2 || arg[0] !== "-") {
      tokens.push({ kind: "positional", value: arg });
      continue;
    }
    if (arg[1] === "-") {
      // `--x`, `--x=v` or `--x v`. As in node:util, an "=" right after the dashes is part of
      // the name (`--=v`) unless another "=" follows: then the first one splits (`--==v`).
      if (arg.includes("=", 3)) {
        const equals = arg.indexOf("=");
        const name = arg.slice(2, equals);
        tokens.push({
          kind: "option",
          name,
          rawName: `--${name}`,
          value: arg.slice(equals + 1),
          inlineValue: true,
        });
        continue;
      }
      const name = arg.slice(2);
      const next = argv[index + 1];
      const value = takesValue(name, config) ? next : undefined;
      tokens.push({
        kind: "option",
        name,
        rawName: arg,
        value,
        inlineValue: value === undefined ? undefined : false,
      });
      if (value !== undefined) index++;
      continue;
    }
    // `-x`, `-x v`, `-xVALUE` or a group `-xyz`, one UTF-16 unit per flag as in node:util.
    for (let at = 1; at < arg.length; at++) {
      const short = arg.charAt(at);
      const name = longForShort(short, config);
      const last = at === arg.length - 1;
      if (short === "-" && !takesValue(name, config)) {
        // node:util expands `-v-x` to `-v -- -x`: the `--` ends the flags there.
        endOfFlags(tokens, [...groupRest(arg, at + 1, config), ...argv.slice(index + 1)]);
        return tokens;
      }
      if (!takesValue(name, config)) {
        tokens.push({
          kind: "option",
          name,
          rawName: `-${short}`,
          value: undefined,
          inlineValue: undefined,
        });
        continue;
      }
      const value = last ? argv[index + 1] : arg.slice(at + 1);
      tokens.push({
        kind: "option",
        name,
        rawName: `-${short}`,
        value,
        inlineValue: value === undefined ? undefined : !last,
      });
      if (last && value !== undefined) index++;
      break;
    }
  }
  return tokens;
}

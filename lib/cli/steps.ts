/**
 * Ordered dialog steps from the command line: `--send`, `--send-hex`,
 * `--expect`, `--expect-re`, `--expect-hex` run in the order given, after the
 * dialog of `--proto NAME` (wherever `--proto` stands).
 *
 * @module
 */

import { argTokens, type ParseConfig } from "./arg_tokens.ts";
import { UsageError } from "../errors.ts";
import type { DialogStep } from "../net/dialog.ts";
import { type Preset, presetNames, PRESETS } from "../net/presets.ts";
import { parseEscapes } from "./escape.ts";
import { quoteValue } from "./quote.ts";
import { ESCAPES, type FlagTable } from "./flags.ts";

/**
 * The step flags, for a command's parse config. All are repeatable.
 *
 * @example
 * ```ts
 * import { parseConfig, reportFlags } from "./flags.ts";
 * import { STEP_FLAGS } from "./steps.ts";
 * const flags = { ...STEP_FLAGS, ...parseConfig(reportFlags()) } as const;
 * ```
 */
export const STEP_FLAGS = {
  send: { type: "string", multiple: true },
  "send-hex": { type: "string", multiple: true },
  expect: { type: "string", multiple: true },
  "expect-re": { type: "string", multiple: true },
  "expect-hex": { type: "string", multiple: true },
  proto: { type: "string", multiple: true },
} as const;

/**
 * The step flags as a flag table (lib/cli/flags.ts), for a command whose
 * `--help` and README table come from one: the same flags as
 * {@linkcode STEP_FLAGS}, with their help.
 *
 * @example A command's table with the steps
 * ```ts
 * import { type FlagTable, reportFlags } from "./flags.ts";
 * import { STEP_TABLE } from "./steps.ts";
 * const TABLE: FlagTable = [...STEP_TABLE, ...reportFlags()];
 * ```
 */
export const STEP_TABLE: FlagTable = [
  {
    name: "send",
    type: "string",
    multiple: true,
    value: "TEXT",
    help: "a step: send TEXT (nothing is appended)",
    doc: `a step: send exactly TEXT (escapes \`${ESCAPES}\`); nothing is appended`,
    section: "check",
  },
  {
    name: "send-hex",
    type: "string",
    multiple: true,
    value: "HEX",
    help: "a step: send bytes given as hex (0d0a, 0d 0a, 0d:0a)",
    doc: "a step: send bytes given as hex (`0d0a`, `0d 0a` or `0d:0a`)",
    section: "check",
  },
  {
    name: "expect",
    type: "string",
    multiple: true,
    value: "TEXT",
    help: "a step: read until the step's bytes contain TEXT",
    doc: "a step: read until the bytes received in this step contain TEXT (same escapes), " +
      "like `check_tcp -e`",
    section: "check",
  },
  {
    name: "expect-re",
    type: "string",
    multiple: true,
    value: "REGEX",
    help: "a step: read until REGEX matches the step's bytes (latin1)",
    doc: "a step: read until REGEX matches the step's bytes read as latin1 (one character per " +
      "byte); bounded by the step's timeout however much it backtracks",
    section: "check",
  },
  {
    name: "expect-hex",
    type: "string",
    multiple: true,
    value: "HEX",
    help: "a step: read until the step's bytes contain these bytes",
    doc: "a step: read until the bytes received in this step contain these bytes (hex)",
    section: "check",
  },
  {
    name: "proto",
    type: "string",
    multiple: true,
    value: "NAME",
    help: `a ready dialog, run before the other steps: ${presetNames().join(", ")}`,
    doc: `a ready dialog, run before the other steps: ${
      presetNames().map((name) => `\`${name}\``).join(", ")
    } (see "Presets")`,
    section: "check",
  },
];

/** Options of {@linkcode stepsFromArgs}. */
export interface StepsFromArgsOptions {
  /** The command's whole parse config (so that every token is read as the command reads it). */
  config: ParseConfig;
  /** The target host, for presets that name it (HTTP's Host). @default {"localhost"} */
  host?: string;
  /** The target port, for presets that name it. @default {0} (the preset's default port) */
  port?: number;
}

/** The dialog a command line asks for. */
export interface StepsFromArgs {
  /** Every step, the preset's first. Empty when no step flag was given. */
  steps: DialogStep[];
  /** The step flags alone, in command-line order (for a preset made per target). */
  given: DialogStep[];
  /** The `--proto` preset, or null. */
  preset: Preset | null;
}

/**
 * Parses hex bytes: pairs of hex digits, optionally separated by spaces or
 * colons (`0d0a`, `0d 0a`, `0D:0A`).
 *
 * @example
 * ```ts
 * import { parseHex } from "./steps.ts";
 * console.log(parseHex("0d:0a", "--send-hex")); // Uint8Array(2) [ 13, 10 ]
 * ```
 */
export function parseHex(text: string, flag: string): Uint8Array {
  const digits = text.replace(/[\s:]/g, "");
  if (digits === "") throw new UsageError(`invalid ${flag} ${quoteValue(text)}: empty`);
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(digits)) {
    throw new UsageError(
      `invalid ${flag} ${quoteValue(text)}: not hex bytes (two hex digits per byte, e.g. 0d0a)`,
    );
  }
  return Uint8Array.fromHex(digits);
}

function stepOf(name: string, value: string): DialogStep {
  const flag = `--${name}`;
  if (value === "") throw new UsageError(`invalid ${flag} "": empty`);
  switch (name) {
    case "send":
      return { kind: "send", bytes: parseEscapes(value, flag), text: value };
    case "expect":
      return { kind: "expect", bytes: parseEscapes(value, flag), text: value };
    case "send-hex":
      return { kind: "send-hex", bytes: parseHex(value, flag), text: value };
    case "expect-hex":
      return { kind: "expect-hex", bytes: parseHex(value, flag), text: value };
    default: {
      try {
        return { kind: "expect-re", re: new RegExp(value), text: value };
      } catch (err) {
        // V8 repeats the whole pattern ("/.../: Unterminated group"): keep the reason.
        // new RegExp throws only SyntaxError.
        const why = (err as SyntaxError).message.replace(/^Invalid regular expression: /, "")
          .replace(/^\/[\s\S]*\/[a-z]*: /, "");
        throw new UsageError(`invalid ${flag} ${quoteValue(value)}: ${why}`);
      }
    }
  }
}

/**
 * Reads the step flags of `argv` in command-line order (the tokens of
 * lib/cli/arg_tokens.ts keep the order that parsed `values` lose). `--proto` puts its
 * preset's dialog first; the other steps follow in the order given. Bad hex,
 * a bad regex, an unknown protocol or two `--proto` throw a
 * {@linkcode UsageError} naming the value.
 *
 * @example Redis, then one more step
 * ```ts
 * import { STEP_FLAGS, stepsFromArgs } from "./steps.ts";
 * const argv = ["127.0.0.1", "6379", "--proto", "redis", "--send", "QUIT\\r\\n", "--expect", "+OK"];
 * const { steps, preset } = stepsFromArgs(argv, { config: STEP_FLAGS, host: "127.0.0.1", port: 6379 });
 * console.log(preset?.name, steps.map((s) => s.kind)); // redis [ "send", "expect", "send", "expect" ]
 * ```
 */
export function stepsFromArgs(argv: string[], options: StepsFromArgsOptions): StepsFromArgs {
  // The command's own strict parse has already refused bad flags.
  const tokens = argTokens(argv, { config: options.config });
  const steps: DialogStep[] = [];
  let preset: Preset | null = null;
  for (const token of tokens) {
    if (token.kind !== "option" || !(token.name in STEP_FLAGS)) continue;
    const value = token.value ?? "";
    if (token.name !== "proto") {
      steps.push(stepOf(token.name, value));
      continue;
    }
    if (preset !== null) {
      throw new UsageError(`conflicting --proto "${preset.name}" and --proto "${value}": give one`);
    }
    const found = Object.hasOwn(PRESETS, value) ? PRESETS[value] : undefined;
    if (found === undefined) {
      throw new UsageError(`invalid --proto "${value}": use one of ${presetNames().join(", ")}`);
    }
    preset = found;
  }
  if (preset === null) return { steps, given: steps, preset };
  const port = options.port || preset.defaultPort;
  return {
    steps: [...preset.steps({ host: options.host ?? "localhost", port }), ...steps],
    given: steps,
    preset,
  };
}

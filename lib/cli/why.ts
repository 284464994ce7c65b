/**
 * `tcpc why HOST PORT`: find out, layer by layer and address by address, why
 * a service cannot be reached, and say it in one verdict line.
 *
 * @module
 */

import type { ParseConfig } from "./arg_tokens.ts";
import { UsageError } from "../errors.ts";
import type { DialogStep } from "../net/dialog.ts";
import type { StackOptions } from "../net/stack.ts";
import {
  diagnose,
  WHY_CONNECT_TIMEOUT_MS,
  WHY_FIRST_BYTE_WAIT_MS,
  WHY_STEP_TIMEOUT_MS,
} from "../net/why.ts";
import { formatDuration } from "../report/duration.ts";
import { renderWhyText, whyJson, whyVerdict } from "../report/why_text.ts";
import { escapeLine } from "../report/safe_text.ts";
import {
  boolFlag,
  countFlag,
  durationFlag,
  familyFlag,
  parseCommandLine,
  type ParsedArgs,
  prepareCommand,
} from "./args.ts";
import type { CommandContext } from "./context.ts";
import { exitCodesHelp } from "./exit_help.ts";
import {
  DIAL_FLAGS,
  type FlagTable,
  helpText,
  parseConfig,
  reportFlags,
  withHelp,
} from "./flags.ts";
import { ROUTE_FLAGS } from "./proxy_flags.ts";
import { routePlan, stackOptions } from "./route.ts";
import { STEP_TABLE, stepsFromArgs } from "./steps.ts";
import { parseHostPort } from "./target.ts";
import { TLS_FLAGS } from "./tls_flags.ts";

/**
 * The flags of `tcpc why`: the one source of its parse config, `--help` and
 * README table.
 *
 * @example
 * ```ts
 * import { WHY_TABLE } from "./why.ts";
 * console.log(WHY_TABLE.some((flag) => flag.name === "starttls")); // true
 * ```
 */
export const WHY_TABLE: FlagTable = [
  ...STEP_TABLE,
  ...withHelp(DIAL_FLAGS, {
    "connect-timeout": {
      help: `time for each connect, proxy and TLS handshake, per address (default ${
        formatDuration(WHY_CONNECT_TIMEOUT_MS)
      })`,
    },
  }),
  {
    name: "timeout",
    short: "t",
    type: "string",
    value: "DUR",
    help: `time for each step (default ${
      formatDuration(WHY_STEP_TIMEOUT_MS)
    }); without steps, how long to listen for a first byte (default ${
      formatDuration(WHY_FIRST_BYTE_WAIT_MS)
    })`,
    section: "deadlines",
  },
  ...TLS_FLAGS,
  ...ROUTE_FLAGS,
  ...reportFlags({
    json: "one JSON object on stdout instead of the text report",
    verbose: false,
  }),
];

/**
 * Usage text of `tcpc why`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { whyHelp } from "./why.ts";
 * console.log(whyHelp().split("\n")[0]);
 * ```
 */
export function whyHelp(): string {
  return helpText({
    usage: "Usage: tcpc why HOST PORT [steps] [options]",
    summary: `Find out, layer by layer, why HOST:PORT cannot be reached: resolve HOST to
every address of both families, then on each address run the TCP connect, the
proxy, TLS, the first byte and the steps, and explain each failure. Ends with
one verdict line.`,
    table: WHY_TABLE,
    footer: exitCodesHelp({
      meanings: {
        0: "the target works on at least one address",
        1: "refused, reset, unreachable or closed (the failure that decided the verdict)",
      },
    }),
  });
}

/**
 * The flags of `tcpc why`, for parseCommandLine() (lib/cli/args.ts).
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * import { WHY_FLAGS } from "./why.ts";
 * parseCommandLine(["--json"], { options: WHY_FLAGS });
 * ```
 */
export const WHY_FLAGS: ParseConfig = parseConfig(WHY_TABLE);

/** Everything `tcpc why` was asked to do, validated. */
export interface WhyPlan {
  /** Host (no brackets). */
  host: string;
  /** Port. */
  port: number;
  /** The dial stack's route: proxy, layers, source. */
  stack: StackOptions;
  /** Dialog steps. */
  steps: DialogStep[];
  /** Per-connect (and handshake) timeout, ms. */
  connectTimeoutMs: number;
  /** `-t`, ms, when given. */
  stepTimeoutMs: number | undefined;
  /** Address family. */
  family: 4 | 6 | undefined;
  /** JSON output. */
  json: boolean;
  /** Always 0 (why has no log). */
  verbosity: number;
}

async function planFromArgs(args: ParsedArgs, argv: string[]): Promise<WhyPlan> {
  const { host, port } = parseHostPort(args.positionals, "why");
  const family = familyFlag(args);
  const connectTimeoutMs = durationFlag(args, "connect-timeout") ?? WHY_CONNECT_TIMEOUT_MS;
  if (connectTimeoutMs <= 0) throw new UsageError("invalid --connect-timeout: must be above 0");
  const stepTimeoutMs = durationFlag(args, "timeout");
  if (stepTimeoutMs !== undefined && stepTimeoutMs <= 0) {
    throw new UsageError("invalid --timeout: must be above 0");
  }
  const { steps } = stepsFromArgs(argv, { config: WHY_FLAGS, host, port });
  const route = await routePlan(args, { host });
  return {
    host,
    port,
    stack: stackOptions(host, port, { route, base: {} }),
    steps,
    connectTimeoutMs,
    stepTimeoutMs,
    family,
    json: boolFlag(args, "json"),
    verbosity: countFlag(args, "verbose"),
  };
}

/**
 * Validates a `tcpc why` command line. Opens no socket (it reads the PEM
 * files of `--cacert`, `--cert`, `--key`).
 *
 * @example
 * ```ts
 * import { planWhy } from "./why.ts";
 * const plan = await planWhy(["localhost", "443", "--tls", "-w", "2s"]);
 * console.log(plan?.connectTimeoutMs, plan?.stack.layers?.length); // 2000 1
 * ```
 */
export async function planWhy(argv: string[]): Promise<WhyPlan | null> {
  const args = parseCommandLine(argv, { options: WHY_FLAGS, command: "tcpc why" });
  if (boolFlag(args, "help")) return null;
  return await planFromArgs(args, argv);
}

/** Options of {@linkcode runWhy} beyond the context. */
export interface RunWhyOptions {
  /** Marks for the text report; unset: ✓/✗ when stdout is a terminal and NO_COLOR is unset. @default {undefined} */
  marks?: "unicode" | "ascii";
}

/** ✓/✗ only on a terminal, and not with NO_COLOR (Deno reads it for us: no env permission needed). */
function defaultMarks(): "unicode" | "ascii" {
  try {
    return Deno.stdout.isTerminal() && !Deno.noColor ? "unicode" : "ascii";
  } catch {
    return "ascii";
  }
}

/**
 * Runs `tcpc why`: prints the report (text or `--json`) and resolves to the
 * exit code: 0 when the target works on at least one address, else the code
 * of the failure kind that decided the verdict (1 refused, reset, unreachable
 * or closed; 3 dns; 4 timeout; 6 a step's mismatch; 7 tls; 8 proxy).
 *
 * @example
 * ```ts
 * import { runWhy } from "./why.ts";
 * import type { CommandContext } from "./context.ts";
 * declare const ctx: CommandContext;
 * const code = await runWhy(["localhost", "443", "--tls"], ctx);
 * ```
 */
export async function runWhy(
  argv: string[],
  ctx: CommandContext,
  options: RunWhyOptions = {},
): Promise<number> {
  const plan = await prepareCommand(argv, ctx, {
    command: "tcpc why",
    options: WHY_FLAGS,
    help: whyHelp,
    plan: (args) => planFromArgs(args, argv),
  });
  if (plan === null) return 0;
  const report = await diagnose(plan.host, plan.port, {
    stack: plan.stack,
    steps: plan.steps,
    connectTimeoutMs: plan.connectTimeoutMs,
    ...(plan.stepTimeoutMs === undefined
      ? {}
      : { stepTimeoutMs: plan.stepTimeoutMs, firstByteWaitMs: plan.stepTimeoutMs }),
    ...(plan.family === undefined ? {} : { family: plan.family }),
    signal: ctx.signal,
  });
  const verdict = whyVerdict(report);
  if (plan.json) ctx.out(escapeLine(JSON.stringify(whyJson(report))));
  else {
    for (const line of renderWhyText(report, { marks: options.marks ?? defaultMarks() })) {
      ctx.out(line);
    }
  }
  return verdict.exitCode;
}

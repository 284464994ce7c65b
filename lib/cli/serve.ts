/**
 * `tcpc serve [HOST] PORT [--mode echo|discard|chargen]`: the built-in server.
 *
 * @module
 */

import { NetError, UsageError } from "../errors.ts";
import { quoteValue } from "./quote.ts";
import { joinHostPort } from "../net/address.ts";
import { toNetError } from "../net/net_errors.ts";
import { serve, type ServeMode } from "../net/server.ts";
import { boolFlag, countFlag, parseCommandLine, stringFlag } from "./args.ts";
import type { CommandContext } from "./context.ts";
import { type FlagTable, helpText, parseConfig, reportFlags } from "./flags.ts";
import { parseHost, parsePort } from "./target.ts";

/**
 * The flags of `tcpc serve`: the one source of its parse config, `--help`
 * and README table.
 *
 * @example
 * ```ts
 * import { SERVE_TABLE } from "./serve.ts";
 * console.log(SERVE_TABLE.map((flag) => flag.name)); // ["mode", "verbose", "help"]
 * ```
 */
export const SERVE_TABLE: FlagTable = [
  {
    name: "mode",
    short: "m",
    type: "string",
    value: "MODE",
    help: "echo (default, RFC 862), discard (RFC 863), chargen (RFC 864)",
    section: "options",
  },
  ...reportFlags({ json: false, verbose: "log connections on stderr" }),
];

/**
 * Usage text of `tcpc serve`, built when asked (building it at load cost every
 * start-up ~1 ms, bench/RESULTS.md).
 *
 * @example Print it
 * ```ts
 * import { serveHelp } from "./serve.ts";
 * console.log(serveHelp().split("\n")[0]);
 * ```
 */
export function serveHelp(): string {
  return helpText({
    usage: "Usage: tcpc serve [HOST] PORT [--mode echo|discard|chargen]",
    summary: `A small TCP server for tests and demos (HOST defaults to 127.0.0.1; PORT 0
picks a free port, printed on stdout as "listening on HOST:PORT").`,
    table: SERVE_TABLE,
    footer: "Runs until SIGINT or SIGTERM.",
  });
}

const MODES: readonly ServeMode[] = ["echo", "discard", "chargen"];

/**
 * Runs `tcpc serve` until the root signal aborts. Returns exit code 0; a port
 * in use is a {@linkcode NetError} (`listen`, kind `io`: exit 1).
 *
 * @example
 * ```ts
 * import { runServe } from "./serve.ts";
 * import type { CommandContext } from "./context.ts";
import { type FlagTable, helpText, parseConfig, reportFlags } from "./flags.ts";
 * declare const ctx: CommandContext;
 * await runServe(["127.0.0.1", "0", "--mode", "discard"], ctx);
 * ```
 */
export async function runServe(argv: string[], ctx: CommandContext): Promise<number> {
  const args = parseCommandLine(argv, {
    command: "tcpc serve",
    options: parseConfig(SERVE_TABLE),
  });
  if (boolFlag(args, "help")) {
    ctx.out(serveHelp());
    return 0;
  }
  await ctx.setVerbosity(countFlag(args, "verbose"));
  const mode = stringFlag(args, "mode") ?? "echo";
  if (!MODES.includes(mode as ServeMode)) {
    throw new UsageError(`invalid --mode ${quoteValue(mode)}: use echo, discard or chargen`);
  }
  const positionals = args.positionals;
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError("serve: give [HOST] PORT (see tcpc serve --help)");
  }
  // One or two positionals (checked above): the indexes exist.
  const hostname = positionals.length === 2 ? parseHost(positionals[0]!) : "127.0.0.1";
  const portText = positionals.at(-1)!;
  const port = portText === "0" ? 0 : parsePort(portText);
  try {
    await serve(port, {
      hostname,
      mode: mode as ServeMode,
      signal: ctx.signal,
      onListen: (addr) => {
        ctx.out(`listening on ${joinHostPort(addr.hostname, addr.port)} (${mode})`);
        if (hostname === "0.0.0.0" || hostname === "::") {
          // On stderr: stdout's first line is the address scripts read.
          ctx.err(
            `tcpc serve: listening on every ${
              hostname === "::" ? "" : "IPv4 "
            }interface (${hostname}): other machines can connect (give 127.0.0.1 for this machine only)`,
          );
        }
      },
    });
  } catch (err) {
    // Not bad input (exit 2): the command line is fine, the port is taken now.
    if (err instanceof Deno.errors.AddrInUse) {
      throw new NetError("io", "address in use", {
        op: "listen",
        address: joinHostPort(hostname, port),
        cause: err,
      });
    }
    // Only binding fails here (serve() handles each client's errors): an
    // address not on this host or a port that needs privileges gets the same
    // op and address as tcpc listen.
    throw toNetError(err, { op: "listen", address: joinHostPort(hostname, port) });
  }
  return 0;
}

/**
 * Hints for habits from nc and ncat: a flag tcpc spells differently (or does
 * not have) and `HOST:PORT` or a port range where a command takes `HOST PORT`.
 * Flags come from the OpenBSD nc(1) and ncat(1) manual pages; a hint is given
 * only for a flag the command does not accept, so a flag tcpc gains later
 * (e.g. `-k` for TLS) simply stops hinting.
 *
 * @module
 */

import { quoteValue } from "./quote.ts";

/** One netcat flag and what to do in tcpc instead. */
interface NetcatHint {
  /** The spellings nc or ncat use. */
  flags: readonly string[];
  /** Which tool has it and what it does there, e.g. `nc and ncat: listen`. */
  means: string;
  /** What to write in tcpc. */
  instead: string;
  /**
   * Use `instead` only when the command accepts this long flag; otherwise say
   * `otherwise` (the tcpc spelling exists on other commands or not yet).
   */
  needs?: string;
  /** Said when `needs` is not accepted by the command. */
  otherwise?: string;
}

const RUN_PROGRAM = "tcpc runs no program on the connection: pipe instead (prog | tcpc HOST PORT)";

/** Netcat flags, checked in order; the first whose spelling matches wins. */
const NETCAT_HINTS: readonly NetcatHint[] = [
  {
    flags: ["-l", "--listen"],
    means: "nc and ncat: listen",
    instead: "use tcpc listen [HOST] PORT (or tcpc -l [HOST] PORT)",
  },
  {
    flags: ["-k", "--keep-open"],
    means: "nc and ncat: keep listening",
    instead: "use tcpc listen -k [HOST] PORT",
  },
  {
    flags: ["-N"],
    means: "nc: half-close after stdin EOF",
    instead: "tcpc always half-closes after stdin EOF; -q DUR bounds the wait for the reply",
  },
  {
    flags: ["--no-shutdown"],
    means: "ncat: no half-close after stdin EOF",
    instead: "tcpc always half-closes after stdin EOF",
  },
  {
    flags: ["-c"],
    means: "ncat: run a shell command; OpenBSD nc: TLS",
    instead: `${RUN_PROGRAM}; for TLS use --tls`,
    needs: "tls",
    otherwise: RUN_PROGRAM,
  },
  {
    flags: ["-e", "--exec", "--sh-exec", "--lua-exec"],
    means: "nc and ncat: run a program",
    instead: RUN_PROGRAM,
  },
  {
    flags: ["--ssl"],
    means: "ncat: TLS",
    instead: "use --tls",
    needs: "tls",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["--ssl-verify"],
    means: "ncat: verify the certificate",
    instead: "tcpc --tls verifies by default (-k/--insecure turns it off)",
    needs: "tls",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["--ssl-trustfile", "-R"],
    means: "ncat and OpenBSD nc: CA certificates",
    instead: "use --cacert FILE",
    needs: "cacert",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["--ssl-cert"],
    means: "ncat: client certificate",
    instead: "use --cert FILE",
    needs: "cert",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["--ssl-key", "-K"],
    means: "ncat and OpenBSD nc: client key",
    instead: "use --key FILE",
    needs: "key",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["--ssl-servername"],
    means: "ncat: TLS server name",
    instead: "use --sni NAME",
    needs: "sni",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["--ssl-alpn"],
    means: "ncat: ALPN",
    instead: "use --alpn PROTO",
    needs: "alpn",
    otherwise: "TLS is not available on this command",
  },
  {
    flags: ["-u", "--udp", "--sctp", "-U", "--unixsock", "--vsock"],
    means: "nc and ncat: UDP, SCTP or Unix sockets",
    instead: "tcpc speaks TCP only",
  },
  {
    flags: ["-X", "--proxy-type"],
    means: "nc and ncat: proxy type",
    instead: "give the proxy with --proxy",
    needs: "proxy",
    otherwise: "proxies are not available on this command",
  },
  {
    flags: ["-P"],
    means: "nc: proxy user name",
    instead: "use --proxy-auth",
    needs: "proxy-auth",
    otherwise: "proxies are not available on this command",
  },
  {
    flags: ["-s", "--source"],
    means: "nc and ncat: source address",
    instead: "use -s/--source",
    needs: "source",
    otherwise: "this command cannot bind a source address",
  },
  {
    flags: ["-p", "--source-port"],
    means: "nc and ncat: source port",
    instead: "use -p/--source-port",
    needs: "source-port",
    otherwise: "this command cannot bind a source port",
  },
  {
    flags: ["-n", "--nodns"],
    means: "nc and ncat: no DNS",
    instead: "give an IP address: tcpc does not resolve IP literals",
  },
  {
    flags: ["-z"],
    means: "nc and ncat: connect, send nothing",
    instead: "tcpc probe HOST:PORT checks ports without sending",
  },
  {
    flags: ["-W"],
    means: "nc: stop after N packets",
    instead: "use --max-bytes N",
    needs: "max-bytes",
    otherwise: "tcpc connect --max-bytes N stops after N bytes",
  },
  {
    flags: ["-o", "--output"],
    means: "ncat: copy the session to a file",
    instead: "redirect stdout (tcpc HOST PORT > FILE)",
  },
  {
    flags: ["--hex-dump"],
    means: "ncat: hex dump to a file",
    instead: "use -x/--hex (on stderr)",
    needs: "hex",
    otherwise: "tcpc connect -x/--hex dumps the traffic on stderr",
  },
  {
    flags: ["--wait"],
    means: "ncat: connect timeout",
    instead: "use -w/--connect-timeout",
    needs: "connect-timeout",
    otherwise: "this command has no connect timeout",
  },
  {
    flags: ["--recv-only"],
    means: "ncat: only receive",
    instead: "send nothing with tcpc HOST PORT < /dev/null",
  },
  {
    flags: ["--send-only"],
    means: "ncat: only send",
    instead: "drop the reply with tcpc HOST PORT > /dev/null",
  },
  {
    flags: ["-t", "--telnet"],
    means: "nc and ncat: telnet negotiation",
    instead: "tcpc does not speak telnet",
  },
];

/** Options of {@linkcode unknownFlagMessage}. */
export interface UnknownFlagMessageOptions {
  /** Long names of the flags the command accepts (for hints that name one). @default {[]} */
  accepts?: readonly string[];
}

/**
 * The message for a flag the command does not accept: `unknown option '-l'`,
 * followed, for a netcat habit, by what it is there and what to write in tcpc.
 *
 * @example
 * ```ts
 * import { unknownFlagMessage } from "./hints.ts";
 * console.log(unknownFlagMessage("-N"));
 * // unknown option '-N' (nc: half-close after stdin EOF): tcpc always half-closes ...
 * ```
 */
export function unknownFlagMessage(flag: string, options: UnknownFlagMessageOptions = {}): string {
  const name = flag.split("=")[0]!; // split() always gives a first part
  const bare = `unknown option ${quoteValue(flag, { mark: "'" })}`;
  const hint = NETCAT_HINTS.find((h) => h.flags.includes(name));
  if (hint === undefined) return bare;
  const usable = hint.needs === undefined || (options.accepts ?? []).includes(hint.needs);
  return `${bare} (${hint.means}): ${usable ? hint.instead : hint.otherwise ?? hint.instead}`;
}

/** A port list or range: `20-25`, `22,80,443`, `8000-8010,9000`. */
const PORT_SET = /^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/;

/** Splits `host:port` or `[v6]:port`; undefined when the text has no port part. */
function splitHostPort(text: string): { host: string; ports: string } | undefined {
  const bracketed = /^\[([^\]]+)\]:(.+)$/.exec(text);
  if (bracketed !== null) return { host: bracketed[1]!, ports: bracketed[2]! };
  const colon = text.lastIndexOf(":");
  // A bare IPv6 address has several colons and no port.
  if (colon <= 0 || text.indexOf(":") !== colon) return undefined;
  return { host: text.slice(0, colon), ports: text.slice(colon + 1) };
}

function shown(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Options of {@linkcode positionalHint}. */
export interface PositionalHintOptions {
  /** How the command is typed, e.g. `tcpc` or `tcpc ping`. @default {"tcpc"} */
  invocation?: string;
}

/**
 * A hint for nc-style positionals on a command that takes `HOST PORT`:
 * `HOST:PORT` in one argument, a port range or list, or several ports.
 * Undefined when the positionals show no such habit.
 *
 * @example
 * ```ts
 * import { positionalHint } from "./hints.ts";
 * console.log(positionalHint(["127.0.0.1:7007"]));
 * // "127.0.0.1:7007" is HOST:PORT in one argument: write tcpc 127.0.0.1 7007
 * console.log(positionalHint(["host", "20-25"]));
 * // port "20-25" is a range: to check many ports, use tcpc probe host:20-25
 * ```
 */
export function positionalHint(
  positionals: readonly string[],
  options: PositionalHintOptions = {},
): string | undefined {
  const invocation = options.invocation ?? "tcpc";
  const [first, second, ...rest] = positionals;
  if (first === undefined) return undefined;
  if (second === undefined) {
    const split = splitHostPort(first);
    if (split === undefined || !PORT_SET.test(split.ports)) return undefined;
    if (/^\d+$/.test(split.ports)) {
      return `"${first}" is HOST:PORT in one argument: write ${invocation} ${split.host} ${split.ports}`;
    }
    return `"${first}" names several ports: to check many ports, use tcpc probe ${first}`;
  }
  const host = shown(first);
  if (rest.length === 0 && PORT_SET.test(second) && !/^\d+$/.test(second)) {
    const what = second.includes(",") ? "a list" : "a range";
    return `port "${second}" is ${what}: to check many ports, use tcpc probe ${host}:${second}`;
  }
  if (rest.length > 0 && [second, ...rest].every((p) => PORT_SET.test(p))) {
    return `several ports given: to check many ports, use tcpc probe ${host}:${
      [second, ...rest].join(",")
    }`;
  }
  return undefined;
}

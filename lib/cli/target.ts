/**
 * Parsing and validation of hosts, ports and probe targets, done before any
 * socket opens.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { quoteValue } from "./quote.ts";
import { hostKind } from "../net/address.ts";
import { positionalHint } from "./hints.ts";

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
/** Dotted numbers that are not plain dotted decimal: getaddrinfo reads them as octal or hex. */
const NUMERIC_V4 = /^(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+))*$/i;

/**
 * Validates a host: an IPv4 literal, an IPv6 literal (brackets allowed and
 * removed) or a DNS name (RFC 1123 labels, at most 253 characters). Returns the
 * host as it should be passed to `Deno.connect`.
 *
 * @example
 * ```ts
 * import { parseHost } from "./target.ts";
 * console.log(parseHost("[::1]")); // ::1
 * ```
 */
export function parseHost(text: string): string {
  const host = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const bad = (why: string) => new UsageError(`invalid host ${quoteValue(text)}: ${why}`);
  if (host.length === 0) throw bad("empty");
  const kind = hostKind(host);
  if (kind === "ipv4") return host;
  if (kind === "ipv6") return host;
  if (host.includes(":") || host.includes("%")) throw bad("not an IPv6 address");
  if (host.length > 253) throw bad(`${host.length} characters, at most 253`);
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (!name.split(".").every((label) => LABEL.test(label))) {
    throw bad("not a host name (letters, digits, '-' and '.' only)");
  }
  if (NUMERIC_V4.test(name)) {
    // 127.0.0.010 is 127.0.0.8 to getaddrinfo, 0x7f.1 is 127.0.0.1: refuse them.
    throw bad("not an IPv4 address (use four decimal numbers 0-255, no leading zeros)");
  }
  return host;
}

/**
 * Checks that an IP literal is of the family asked with `-4`/`-6`: `-4 ::1`
 * can never connect, and that is a mistake on the command line (exit 2), not a
 * failed lookup. Names pass (their lookup asks for the family).
 *
 * @example
 * ```ts
 * import { checkFamily } from "./target.ts";
 * checkFamily("127.0.0.1", 4); // fine
 * checkFamily("::1", 4); // throws UsageError
 * ```
 */
export function checkFamily(host: string, family: 4 | 6 | undefined): void {
  if (family === undefined) return;
  const kind = hostKind(host);
  if (kind === "name" || kind === `ipv${family}`) return;
  const flag = family === 4 ? "-4" : "-6";
  throw new UsageError(
    `conflicting ${flag} and host ${quoteValue(host)}: an IPv${
      family === 4 ? 6 : 4
    } address (drop ${flag} or give an IPv${family} address)`,
  );
}

/**
 * Validates a port number: decimal digits only, 1 to 65535.
 *
 * @example
 * ```ts
 * import { parsePort } from "./target.ts";
 * console.log(parsePort("6379")); // 6379
 * ```
 */
export function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text)) {
    throw new UsageError(`invalid port ${quoteValue(text)}: must be a number from 1 to 65535`);
  }
  const port = Number(text);
  if (port < 1 || port > 65535) {
    throw new UsageError(`invalid port ${quoteValue(text)}: must be a number from 1 to 65535`);
  }
  return port;
}

/** One probe target: a host and the ports to try on it. */
export interface TargetSpec {
  /** The validated host, without brackets. */
  host: string;
  /** The ports, in the order given. */
  ports: number[];
}

/** One probe target before expansion: a host and its port ranges. */
export interface TargetRanges {
  /** The validated host, without brackets. */
  host: string;
  /** Inclusive port ranges, in the order given (`80` is `[80, 80]`). */
  ranges: [number, number][];
  /** How many ports the ranges hold (counted, not expanded). */
  count: number;
}

/**
 * Parses and validates a probe target without expanding its ranges, so that a
 * caller can check the port count against its cap before any array is built
 * (`host:1-65535,1-65535,...` would otherwise take gigabytes).
 *
 * @example Count a range
 * ```ts
 * import { parseTargetRanges } from "./target.ts";
 * console.log(parseTargetRanges("127.0.0.1:1-1024,8080").count); // 1025
 * ```
 */
export function parseTargetRanges(text: string): TargetRanges {
  let hostText: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new UsageError(`invalid target ${quoteValue(text)}: use [v6addr]:port`);
    }
    hostText = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) throw new UsageError(`invalid target ${quoteValue(text)}: use host:port`);
    hostText = text.slice(0, colon);
    if (hostText.includes(":")) {
      throw new UsageError(`invalid target ${quoteValue(text)}: put IPv6 addresses in brackets`);
    }
    portText = text.slice(colon + 1);
  }
  const host = parseHost(hostText);
  const ranges: [number, number][] = [];
  let count = 0;
  for (const item of portText.split(",")) {
    const dash = item.indexOf("-");
    if (dash < 0) {
      const port = parsePort(item);
      ranges.push([port, port]);
      count += 1;
      continue;
    }
    const lo = parsePort(item.slice(0, dash));
    const hi = parsePort(item.slice(dash + 1));
    if (lo > hi) {
      throw new UsageError(
        `invalid port range ${quoteValue(item)} in ${quoteValue(text)}: ${lo} > ${hi}`,
      );
    }
    ranges.push([lo, hi]);
    count += hi - lo + 1;
  }
  return { host, ranges, count };
}

/**
 * Parses a probe target: `host:port`, `host:lo-hi`, `host:p1,p2,...` (items may be
 * ranges), or `[v6addr]:port`, and expands it (see {@linkcode parseTargetRanges}
 * to count first).
 *
 * @example Parse a range
 * ```ts
 * import { parseTarget } from "./target.ts";
 * console.log(parseTarget("127.0.0.1:80-82").ports); // [80, 81, 82]
 * ```
 */
export function parseTarget(text: string): TargetSpec {
  const { host, ranges } = parseTargetRanges(text);
  const ports: number[] = [];
  for (const [lo, hi] of ranges) for (let port = lo; port <= hi; port++) ports.push(port);
  return { host, ports };
}

/**
 * Takes exactly `HOST PORT` from a command's positional arguments and validates
 * both; `command` names the command in messages.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./target.ts";
 * console.log(parseHostPort(["::1", "80"], "echo")); // { host: "::1", port: 80 }
 * ```
 */
export function parseHostPort(
  positionals: string[],
  command: string,
): { host: string; port: number } {
  // nc habits (HOST:PORT in one argument, a port range) get a pointer, not just "invalid".
  const hint = positionalHint(positionals, {
    invocation: command === "connect" ? "tcpc" : `tcpc ${command}`,
  });
  if (hint !== undefined) throw new UsageError(`${command}: ${hint}`);
  const [hostText, portText, ...extra] = positionals;
  if (hostText === undefined || portText === undefined) {
    const help = command === "connect" ? "tcpc --help" : `tcpc ${command} --help`;
    throw new UsageError(`${command}: missing HOST and PORT (see ${help})`);
  }
  if (extra.length > 0) {
    throw new UsageError(`${command}: unexpected argument ${quoteValue(extra[0]!)}`);
  }
  return { host: parseHost(hostText), port: parsePort(portText) };
}

/**
 * Which resolver answers for a name, said in words: `getaddrinfo` follows the
 * `hosts:` line of nsswitch.conf(5), usually `/etc/hosts` (hosts(5)) first and
 * then the DNS servers of resolv.conf(5). Read from those files only; nothing
 * is queried.
 *
 * @module
 */

import { ipFamily } from "./address.ts";

/** Options of {@linkcode describeResolver}. */
export interface DescribeResolverOptions {
  /** nsswitch.conf(5). @default {"/etc/nsswitch.conf"} */
  nsswitchPath?: string;
  /** hosts(5). @default {"/etc/hosts"} */
  hostsPath?: string;
  /** resolv.conf(5). @default {"/etc/resolv.conf"} */
  resolvPath?: string;
  /**
   * The family asked for (`-4`/`-6`): a name that hosts(5) lists only with
   * addresses of the other family is then said to be so.
   * @default {undefined} (either family)
   */
  family?: 4 | 6;
}

/** What {@linkcode describeResolver} found. */
export interface ResolverInfo {
  /** The sources of the `hosts:` line, e.g. `["files", "dns"]` (glibc's default without the file). */
  sources: string[];
  /** True when hosts(5) lists the name. */
  inHostsFile: boolean;
  /** The `nameserver` lines of resolv.conf(5). */
  nameservers: string[];
  /** Where the answer comes from, e.g. `/etc/hosts lists it`. */
  where: string;
  /** One line for people, e.g. `system resolver (getaddrinfo; nsswitch "hosts: files dns"): /etc/hosts lists it`. */
  text: string;
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    // Missing, or not readable in this sandbox: say less, never fail.
    return null;
  }
}

/** Lines without comments (`#` to the end of the line) and blanks. */
function contentLines(text: string): string[] {
  return text.split("\n").map((line) => line.replace(/#.*$/, "").trim()).filter((l) => l !== "");
}

/**
 * Describes the resolver `getaddrinfo` uses for `host`. Never throws.
 *
 * @example
 * ```ts
 * import { describeResolver } from "./resolver_info.ts";
 * const info = await describeResolver("localhost");
 * console.log(info.text);
 * ```
 */
export async function describeResolver(
  host: string,
  options: DescribeResolverOptions = {},
): Promise<ResolverInfo> {
  const [nsswitch, hosts, resolv] = await Promise.all([
    readOrNull(options.nsswitchPath ?? "/etc/nsswitch.conf"),
    readOrNull(options.hostsPath ?? "/etc/hosts"),
    readOrNull(options.resolvPath ?? "/etc/resolv.conf"),
  ]);
  const hostsLine = nsswitch === null
    ? undefined
    : contentLines(nsswitch).find((line) => /^hosts\s*:/.test(line));
  // Without the file (or the line) glibc uses "dns [!UNAVAIL=return] files".
  const sources = hostsLine === undefined
    ? ["dns", "files"]
    : hostsLine.replace(/^hosts\s*:/, "").replace(/\[[^\]]*\]/g, " ").trim().split(/\s+/)
      .filter((s) => s !== "");
  const wanted = host.toLowerCase();
  // The addresses of every hosts(5) line that lists the name.
  const listed = hosts === null ? [] : contentLines(hosts)
    .map((line) => line.split(/\s+/))
    .filter((fields) => fields.slice(1).some((name) => name.toLowerCase() === wanted))
    .map((fields) => fields[0]!);
  const inHostsFile = listed.length > 0;
  const nameservers = resolv === null ? [] : contentLines(resolv)
    .map((line) => /^nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((s): s is string => s !== undefined);
  const head = `system resolver (getaddrinfo; nsswitch "hosts: ${sources.join(" ")}")`;
  const usesFiles = sources.includes("files");
  const usesDns = sources.includes("dns");
  let where: string;
  const family = options.family;
  if (
    inHostsFile && usesFiles && family !== undefined &&
    !listed.some((address) => ipFamily(address) === family)
  ) {
    const other = family === 4 ? 6 : 4;
    where =
      `/etc/hosts lists it only with IPv${other} addresses, and -${family} asks for IPv${family}`;
  } else if (inHostsFile && usesFiles) where = "/etc/hosts lists it";
  else if (usesDns) {
    const servers = nameservers.length === 0
      ? "no nameserver in /etc/resolv.conf"
      : `nameserver ${nameservers.join(", ")}`;
    where = usesFiles ? `not in /etc/hosts, so DNS (${servers})` : `DNS (${servers})`;
  } else where = usesFiles ? "not in /etc/hosts, and DNS is not consulted" : "no files, no DNS";
  return { sources, inHostsFile, nameservers, where, text: `${head}: ${where}` };
}

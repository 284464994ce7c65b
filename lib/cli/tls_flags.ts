/**
 * The TLS flags every dialing command shares (`--tls`, `--sni`, `--alpn`,
 * `--cacert`, `--cert`, `--key`, `-k`, `--starttls`), their help lines, and
 * the validation that turns them into a {@linkcode TlsPlan}.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { hostKind } from "../net/address.ts";
import { STARTTLS_PROTOCOLS, type StartTlsProtocol } from "../net/starttls.ts";
import { boolFlag, type ParsedArgs, stringFlag } from "./args.ts";
import type { FlagTable } from "./flags.ts";

/**
 * The TLS flags as a flag table (see lib/cli/flags.ts): add `...TLS_FLAGS`
 * to a command's table.
 *
 * @example
 * ```ts
 * import { TLS_FLAGS } from "./tls_flags.ts";
 * console.log(TLS_FLAGS.map((flag) => flag.name).join(" "));
 * ```
 */
export const TLS_FLAGS: FlagTable = [
  {
    name: "tls",
    type: "boolean",
    help: "TLS after connect (trusts the system CAs, the runtime's roots and --cacert)",
    doc: "TLS after connect; trusts the system bundle (/etc/ssl/certs), the runtime's roots " +
      "and `--cacert`",
    section: "tls",
  },
  { name: "ssl", type: "boolean", help: "the same as --tls", section: "tls" },
  {
    name: "sni",
    type: "string",
    value: "NAME",
    help: "server name to send and verify (default: HOST when it is a name)",
    section: "tls",
  },
  {
    name: "alpn",
    type: "string",
    value: "LIST",
    help: "ALPN protocols to offer, comma-separated (e.g. h2,http/1.1)",
    section: "tls",
  },
  {
    name: "cacert",
    type: "string",
    value: "FILE",
    help: "PEM bundle of CAs to trust in addition to the defaults",
    section: "tls",
  },
  {
    name: "cert",
    type: "string",
    value: "FILE",
    help: "client certificate (PEM) for mTLS; needs --key",
    section: "tls",
  },
  {
    name: "key",
    type: "string",
    value: "FILE",
    help: "the client certificate's private key (PEM)",
    section: "tls",
  },
  {
    name: "insecure",
    short: "k",
    type: "boolean",
    help: "do not fail on verification; still report what it found",
    section: "tls",
  },
  {
    name: "starttls",
    type: "string",
    value: "PROTO",
    help: `plain-text upgrade first: ${STARTTLS_PROTOCOLS.join("|")} (implies --tls)`,
    section: "tls",
  },
];

/** What the TLS flags asked for (PEM texts read from the files). */
export interface TlsPlan {
  /** SNI and the name to verify; undefined for an IP literal without --sni. */
  servername?: string;
  /** ALPN protocols to offer. */
  alpn?: string[];
  /** PEM certificates from --cacert. */
  ca?: string[];
  /** Client certificate PEM. */
  cert?: string;
  /** Client key PEM (never printed). */
  key?: string;
  /** -k, --insecure. */
  insecure: boolean;
  /** The --starttls protocol. */
  starttls?: StartTlsProtocol;
}

/** Options of {@linkcode tlsPlan}. */
export interface TlsPlanOptions {
  /** The HOST argument (SNI defaults to it when it is a name). */
  host: string;
}

/** Flags that only mean something with --tls. */
const NEEDS_TLS = ["sni", "alpn", "cacert", "cert", "key", "insecure"] as const;

/** Reads a PEM file for `flag`; a missing or unreadable file names the flag and the path. */
async function readPem(flag: string, path: string, what: RegExp): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : err instanceof Deno.errors.IsADirectory
      ? "is a directory"
      : "cannot read it";
    throw new UsageError(`cannot read --${flag} "${path}": ${why}`);
  }
  // Only the label is checked and named: the content (a key) is never quoted.
  if (!what.test(text)) {
    throw new UsageError(
      `--${flag} "${path}" holds no PEM ${flag === "key" ? "private key" : "certificate"}`,
    );
  }
  return text;
}

/**
 * The certificates of a `--cacert` bundle, each checked to parse: Deno 2.9's
 * node:tls crashes the process with an uncaught error after a handshake when
 * one of its `ca` entries is not a certificate (measured: a corrupted block).
 */
async function readCaBundle(path: string): Promise<string[]> {
  const text = await readPem("cacert", path, /-----BEGIN CERTIFICATE-----/);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (blocks === null) {
    throw new UsageError(`--cacert "${path}" holds no complete PEM certificate (no END line)`);
  }
  // Loaded here only: most runs never read a CA file (start-up time).
  const { X509Certificate } = await import("node:crypto");
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      throw new UsageError(
        `--cacert "${path}": certificate ${i + 1} of ${blocks.length} is not a valid certificate`,
      );
    }
  }
  return blocks;
}

/**
 * Validates the TLS flags and reads their files. Resolves to null when TLS
 * was not asked for (`--tls`, `--ssl` or `--starttls`). Throws a
 * {@linkcode UsageError} for a TLS flag without TLS, `--cert` without `--key`
 * (or the reverse), an unknown `--starttls` protocol, an empty `--alpn` entry
 * or `--sni`, and a file that cannot be read or holds no PEM block. No message
 * quotes a file's content.
 *
 * @example
 * ```ts
 * import { tlsPlan } from "./tls_flags.ts";
 * const plan = await tlsPlan({ values: { tls: true, alpn: "h2,http/1.1" }, positionals: [] }, {
 *   host: "example.com",
 * });
 * console.log(plan?.servername, plan?.alpn); // example.com [ "h2", "http/1.1" ]
 * ```
 */
export async function tlsPlan(args: ParsedArgs, options: TlsPlanOptions): Promise<TlsPlan | null> {
  const starttlsText = stringFlag(args, "starttls");
  const wanted = boolFlag(args, "tls") || boolFlag(args, "ssl") || starttlsText !== undefined;
  if (!wanted) {
    const stray = NEEDS_TLS.find((name) => args.values[name] !== undefined);
    if (stray !== undefined) {
      throw new UsageError(`--${stray} needs --tls (or --starttls)`);
    }
    return null;
  }
  const plan: TlsPlan = { insecure: boolFlag(args, "insecure") };
  if (starttlsText !== undefined) {
    const protocol = STARTTLS_PROTOCOLS.find((p) => p === starttlsText.toLowerCase());
    if (protocol === undefined) {
      throw new UsageError(
        `invalid value "${starttlsText}" for --starttls: must be one of ${
          STARTTLS_PROTOCOLS.join(", ")
        }`,
      );
    }
    plan.starttls = protocol;
  }
  const sni = stringFlag(args, "sni");
  if (sni !== undefined) {
    if (sni === "" || /[\s/]/.test(sni)) {
      throw new UsageError(`invalid value "${sni}" for --sni: must be a host name`);
    }
    if (hostKind(sni) !== "name") {
      // RFC 6066 section 3: "Literal IPv4 and IPv6 addresses are not permitted in HostName".
      throw new UsageError(`invalid value "${sni}" for --sni: an IP address cannot be sent as SNI`);
    }
    plan.servername = sni;
  } else if (hostKind(options.host) === "name") {
    // RFC 6066 section 3: SNI carries host names only, never IP literals.
    plan.servername = options.host;
  }
  const alpn = stringFlag(args, "alpn");
  if (alpn !== undefined) {
    const list = alpn.split(",").map((p) => p.trim());
    if (list.some((p) => p === "" || p.length > 255)) {
      throw new UsageError(
        `invalid value "${alpn}" for --alpn: a comma-separated list of protocol names (e.g. h2,http/1.1)`,
      );
    }
    plan.alpn = list;
  }
  const cacert = stringFlag(args, "cacert");
  if (cacert !== undefined) {
    plan.ca = await readCaBundle(cacert);
  }
  const cert = stringFlag(args, "cert");
  const key = stringFlag(args, "key");
  if (cert !== undefined && key === undefined) {
    throw new UsageError("--cert needs --key (the client certificate's private key)");
  }
  if (key !== undefined && cert === undefined) {
    throw new UsageError("--key needs --cert (the client certificate)");
  }
  if (cert !== undefined && key !== undefined) {
    plan.cert = await readPem("cert", cert, /-----BEGIN CERTIFICATE-----/);
    plan.key = await readPem("key", key, /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/);
  }
  return plan;
}

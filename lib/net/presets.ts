/**
 * `--proto NAME`: ready dialogs, each written from its protocol's spec, with
 * the protocol's STARTTLS flavour (where one exists) and its Nagios label.
 * Every dialog ends the session politely when the protocol has a way to.
 *
 * Regexes run on latin1 text (see lib/net/dialog.ts) with the `m` flag, so
 * `^` anchors at each line: the last line of a multi-line reply (`220-...`
 * lines, then `220 ...`) is what completes a step, and the next reply is not
 * confused with the rest of the banner.
 *
 * @module
 */

import { escapeText } from "../report/safe_text.ts";
import { joinHostPort } from "./address.ts";
import type { DialogStep } from "./dialog.ts";

/** A protocol with a STARTTLS upgrade (issue 12's `--starttls`). */
export type StartTlsProtocol = "smtp" | "imap" | "pop3" | "ftp" | "postgres";

/** What a preset's dialog may depend on. */
export interface PresetContext {
  /** The host as the user gave it (for HTTP's Host header). */
  host: string;
  /** The port. */
  port: number;
}

/** A ready dialog for one protocol. */
export interface Preset {
  /** The `--proto` name. */
  name: string;
  /** Nagios status label, as the protocol's own check plugin prints it (`SMTP OK`). */
  label: string;
  /** The protocol's well-known port. */
  defaultPort: number;
  /** Its STARTTLS flavour, or null when it has none. */
  starttls: StartTlsProtocol | null;
  /** The spec it follows, for help and README. */
  spec: string;
  /** The dialog's steps. */
  steps(context: PresetContext): DialogStep[];
}

const encoder = new TextEncoder();

function send(text: string): DialogStep {
  return { kind: "send", bytes: encoder.encode(text), text: escapeText(text) };
}

function expect(text: string): DialogStep {
  return { kind: "expect", bytes: encoder.encode(text), text: escapeText(text) };
}

function expectRe(re: RegExp): DialogStep {
  return { kind: "expect-re", re, text: re.source };
}

/**
 * A complete final reply line of a line-based protocol with three-digit codes
 * (RFC 5321 section 4.2.1, RFC 959 section 4.2): `CODE` then a space or the
 * line end. `CODE-` lines before it are continuation lines.
 */
function finalReply(code: string): RegExp {
  return new RegExp(`^${code}(?: [^\\r\\n]*)?\\r?\\n`, "m");
}

/**
 * PostgreSQL SSLRequest (protocol docs, "Message Formats"): Int32 length 8,
 * Int32 80877103 (`1234 << 16 | 5679`).
 */
const SSL_REQUEST = new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * Every preset by name.
 *
 * @example Look up redis's dialog
 * ```ts
 * import { PRESETS } from "./presets.ts";
 * const redis = PRESETS.redis!;
 * console.log(redis.label, redis.steps({ host: "127.0.0.1", port: 6379 }).map((s) => s.text));
 * // REDIS [ "PING\\r\\n", "+PONG\\r\\n" ]
 * ```
 */
export const PRESETS: Readonly<Record<string, Preset>> = {
  smtp: {
    name: "smtp",
    label: "SMTP",
    defaultPort: 25,
    starttls: "smtp",
    spec: "RFC 5321: 220 greeting, EHLO, 250, QUIT, 221",
    steps: () => [
      expectRe(finalReply("220")),
      send("EHLO localhost\r\n"),
      expectRe(finalReply("250")),
      send("QUIT\r\n"),
      expectRe(finalReply("221")),
    ],
  },
  imap: {
    name: "imap",
    label: "IMAP",
    defaultPort: 143,
    starttls: "imap",
    spec: "RFC 9051: * OK (or * PREAUTH) greeting, a1 LOGOUT, a1 OK",
    steps: () => [
      expectRe(/^\* (?:OK|PREAUTH)\b[^\r\n]*\r?\n/m),
      send("a1 LOGOUT\r\n"),
      expectRe(/^a1 OK\b[^\r\n]*\r?\n/m),
    ],
  },
  pop3: {
    name: "pop3",
    label: "POP",
    defaultPort: 110,
    starttls: "pop3",
    spec: "RFC 1939: +OK greeting, QUIT, +OK",
    steps: () => [
      expectRe(/^\+OK\b[^\r\n]*\r?\n/m),
      send("QUIT\r\n"),
      expectRe(/^\+OK\b[^\r\n]*\r?\n/m),
    ],
  },
  ftp: {
    name: "ftp",
    label: "FTP",
    defaultPort: 21,
    starttls: "ftp",
    spec: "RFC 959: 220 greeting, QUIT, 221",
    steps: () => [
      expectRe(finalReply("220")),
      send("QUIT\r\n"),
      expectRe(finalReply("221")),
    ],
  },
  ssh: {
    name: "ssh",
    label: "SSH",
    defaultPort: 22,
    starttls: null,
    // The server may send other lines before its identification string.
    spec: "RFC 4253 section 4.2: identification SSH-2.0-... (or SSH-1.99-...)",
    steps: () => [expectRe(/^SSH-(?:2\.0|1\.99)-[^\r\n]*\r?\n/m)],
  },
  redis: {
    name: "redis",
    label: "REDIS",
    defaultPort: 6379,
    starttls: null,
    spec: "RESP: inline PING, +PONG",
    steps: () => [send("PING\r\n"), expect("+PONG\r\n")],
  },
  http: {
    name: "http",
    label: "HTTP",
    defaultPort: 80,
    starttls: null,
    spec: "RFC 9112: HEAD / HTTP/1.1 with Host, status line HTTP/1.x NNN",
    steps: ({ host, port }) => {
      // RFC 9110 section 7.2: Host is uri-host [":" port], the port omitted when it is the default.
      const authority = port === 80 ? (host.includes(":") ? `[${host}]` : host) : joinHostPort(
        host,
        port,
      );
      return [
        send(
          `HEAD / HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: tcpc\r\nConnection: close\r\n\r\n`,
        ),
        expectRe(/^HTTP\/1\.[01] \d{3}\b/),
      ];
    },
  },
  memcached: {
    name: "memcached",
    label: "MEMCACHED",
    defaultPort: 11211,
    starttls: null,
    spec: "memcached protocol.txt: version, VERSION x.y.z",
    steps: () => [send("version\r\n"), expectRe(/^VERSION [^\r\n]*\r\n/)],
  },
  postgres: {
    name: "postgres",
    label: "POSTGRES",
    defaultPort: 5432,
    starttls: "postgres",
    spec: "PostgreSQL protocol: SSLRequest, answered S, N or an ErrorResponse (E)",
    steps: () => [
      { kind: "send-hex", bytes: SSL_REQUEST, text: "0000000804d2162f" },
      expectRe(/^[SNE]/),
    ],
  },
};

/**
 * The names `--proto` accepts, sorted.
 *
 * @example
 * ```ts
 * import { presetNames } from "./presets.ts";
 * console.log(presetNames().join(", "));
 * ```
 */
export function presetNames(): string[] {
  return Object.keys(PRESETS).sort();
}

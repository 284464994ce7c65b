/**
 * STARTTLS: the plain-text upgrade a protocol speaks before its TLS handshake,
 * as `openssl s_client -starttls` does it. After it succeeds, run
 * {@linkcode tlsLayer} on the same conn.
 *
 * Replies are read one byte at a time so that nothing past the server's last
 * plain-text reply is consumed (the TLS handshake follows on the same conn).
 * Every read is bounded in length and by the signal.
 *
 * @module
 */

import { NetError } from "../errors.ts";
import { escapeBytes } from "../report/safe_text.ts";
import type { Conn } from "./conn.ts";

/** The protocols {@linkcode startTls} speaks. */
export type StartTlsProtocol = "smtp" | "imap" | "pop3" | "ftp" | "postgres";

/**
 * Every protocol {@linkcode startTls} speaks, in the order help lists them.
 *
 * @example
 * ```ts
 * import { STARTTLS_PROTOCOLS } from "./starttls.ts";
 * console.log(STARTTLS_PROTOCOLS.includes("smtp")); // true
 * ```
 */
export const STARTTLS_PROTOCOLS: readonly StartTlsProtocol[] = [
  "smtp",
  "imap",
  "pop3",
  "ftp",
  "postgres",
];

/** Options of {@linkcode startTls}. */
export interface StartTlsOptions {
  /** The plain-text dialog to speak. */
  protocol: StartTlsProtocol;
  /** The target as `host:port`, for messages. */
  address: string;
  /** Aborts the dialog: the conn is closed and the promise rejects with `signal.reason`. @default {undefined} */
  signal?: AbortSignal;
  /** Our name in SMTP's `EHLO` (RFC 5321 section 4.1.1.1). @default {"localhost"} */
  clientName?: string;
}

/** Longest reply line we read (RFC 5321 allows 512 for SMTP; servers send more). */
const MAX_LINE = 4096;
/** Most lines of one reply (SMTP's EHLO list, IMAP's untagged lines). */
const MAX_LINES = 100;
/** How much of a reply an error message quotes. */
const QUOTE_BYTES = 120;

/**
 * Speaks `options.protocol`'s upgrade on `conn`: when it resolves, the server
 * expects a TLS ClientHello next.
 *
 * - smtp (RFC 3207): `220` greeting, `EHLO`, a `250` reply listing STARTTLS,
 *   `STARTTLS`, `220`.
 * - imap (RFC 9051 section 6.2.1): `* OK` greeting, `a001 STARTTLS`, `a001 OK`.
 * - pop3 (RFC 2595 section 4): `+OK` greeting, `STLS`, `+OK`.
 * - ftp (RFC 4217 section 4): `220` greeting, `AUTH TLS`, `234`.
 * - postgres (protocol docs, "SSL Session Encryption"): an 8-byte SSLRequest,
 *   one byte `S` (`N`: the server refuses SSL).
 *
 * Failures throw a {@linkcode NetError} of kind `tls`, op `starttls`, quoting
 * what the server said (escaped). On failure or abort the conn is closed.
 *
 * @example Upgrade an SMTP session
 * ```ts
 * import { startTls } from "./starttls.ts";
 * import { tlsLayer } from "./tls.ts";
 * import { TcpConn } from "./tcp_conn.ts";
 * const tcp = new TcpConn(await Deno.connect({ hostname: "127.0.0.1", port: 25 }));
 * const signal = AbortSignal.timeout(5000);
 * await startTls(tcp, { protocol: "smtp", address: "localhost:25", signal });
 * const conn = await tlsLayer(tcp, { address: "localhost:25", servername: "localhost", signal });
 * conn.close();
 * ```
 */
export async function startTls(conn: Conn, options: StartTlsOptions): Promise<void> {
  const signal = options.signal;
  if (signal?.aborted) {
    conn.close();
    throw signal.reason;
  }
  const onAbort = () => conn.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  const dialog = new Dialog(conn, options.address);
  try {
    await DIALOGS[options.protocol](dialog, options.clientName ?? "localhost");
  } catch (err) {
    conn.close();
    if (signal?.aborted) throw signal.reason;
    if (err instanceof NetError) throw err;
    throw new NetError("tls", `STARTTLS dialog failed: ${String(err)}`, {
      op: "starttls",
      address: options.address,
      cause: err,
    });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

const encoder = new TextEncoder();

/** Byte-wise line reading and the dialog's error messages. */
class Dialog {
  readonly #conn: Conn;
  readonly #address: string;
  readonly #byte = new Uint8Array(1);

  constructor(conn: Conn, address: string) {
    this.#conn = conn;
    this.#address = address;
  }

  fail(detail: string): NetError {
    return new NetError("tls", detail, { op: "starttls", address: this.#address });
  }

  quote(bytes: Uint8Array): string {
    return `"${escapeBytes(bytes, { maxBytes: QUOTE_BYTES })}"`;
  }

  async send(text: string | Uint8Array): Promise<void> {
    await this.#conn.write(typeof text === "string" ? encoder.encode(text) : text);
  }

  /** One byte, or null at EOF. */
  async byte(): Promise<number | null> {
    const n = await this.#conn.read(this.#byte);
    return n === null ? null : this.#byte[0]!;
  }

  /** One line without its CRLF; `waiting` names what we waited for, for messages. */
  async line(waiting: string): Promise<Uint8Array> {
    const bytes = new Uint8Array(MAX_LINE);
    let n = 0;
    while (true) {
      const b = await this.byte();
      if (b === null) {
        const said = n === 0 ? "" : ` after ${this.quote(bytes.subarray(0, n))}`;
        throw this.fail(`the server closed the connection while we waited for ${waiting}${said}`);
      }
      if (b === 0x0a) break;
      if (n === MAX_LINE) {
        throw this.fail(
          `reply line longer than ${MAX_LINE} bytes while we waited for ${waiting}: ${
            this.quote(bytes)
          }`,
        );
      }
      bytes[n++] = b;
    }
    return bytes.subarray(0, n > 0 && bytes[n - 1] === 0x0d ? n - 1 : n);
  }

  /**
   * A reply of numbered lines (SMTP, FTP): `NNN-text` continues, `NNN text`
   * ends it (RFC 5321 section 4.2.1, RFC 959 section 4.2). Returns the code
   * and every line's text. With `freeText` (FTP), lines without a code inside
   * a multi-line reply are text; SMTP requires the code on every line.
   */
  async numbered(
    waiting: string,
    freeText = false,
  ): Promise<{ code: string; lines: string[]; raw: Uint8Array }> {
    const lines: string[] = [];
    let open = false;
    for (let i = 0; i < MAX_LINES; i++) {
      const raw = await this.line(waiting);
      const text = new TextDecoder().decode(raw);
      const match = /^(\d{3})([ -]?)(.*)$/.exec(text);
      if (match === null) {
        // RFC 959: a multi-line FTP reply may hold lines without the code; only "NNN " ends it.
        if (open && freeText) {
          lines.push(text);
          continue;
        }
        throw this.fail(`unexpected reply while we waited for ${waiting}: ${this.quote(raw)}`);
      }
      lines.push(match[3]!);
      if (match[2] !== "-") return { code: match[1]!, lines, raw };
      open = true;
    }
    throw this.fail(`reply longer than ${MAX_LINES} lines while we waited for ${waiting}`);
  }

  /** A numbered reply that must have `code`. */
  async expectCode(code: string, waiting: string, freeText = false): Promise<string[]> {
    const reply = await this.numbered(waiting, freeText);
    if (reply.code !== code) {
      throw this.fail(`the server answered ${this.quote(reply.raw)} to ${waiting}`);
    }
    return reply.lines;
  }
}

type DialogRun = (dialog: Dialog, clientName: string) => Promise<void>;

const DIALOGS: Record<StartTlsProtocol, DialogRun> = {
  async smtp(d, clientName) {
    await d.expectCode("220", "the SMTP greeting (220)");
    await d.send(`EHLO ${clientName}\r\n`);
    const ehlo = await d.expectCode("250", "the reply to EHLO (250)");
    if (!ehlo.some((line) => /^STARTTLS\b/i.test(line.trim()))) {
      throw d.fail(
        `the server does not offer STARTTLS (EHLO reply: "${
          ehlo.slice(1).map((l) => escapeBytes(encoder.encode(l), { maxBytes: 40 })).join(", ")
        }")`,
      );
    }
    await d.send("STARTTLS\r\n");
    await d.expectCode("220", "the reply to STARTTLS (220)");
  },

  async imap(d) {
    const greeting = await d.line("the IMAP greeting (* OK)");
    if (!/^\* (OK|PREAUTH)\b/i.test(new TextDecoder().decode(greeting))) {
      throw d.fail(`unexpected IMAP greeting ${d.quote(greeting)}`);
    }
    await d.send("a001 STARTTLS\r\n");
    for (let i = 0; i < MAX_LINES; i++) {
      const line = await d.line("the reply to a001 STARTTLS (a001 OK)");
      const text = new TextDecoder().decode(line);
      if (text.startsWith("* ")) continue; // untagged data may come first (RFC 9051 section 2.2.2)
      if (/^a001 OK\b/i.test(text)) return;
      throw d.fail(`the server answered ${d.quote(line)} to a001 STARTTLS`);
    }
    throw d.fail(`no tagged reply to a001 STARTTLS within ${MAX_LINES} lines`);
  },

  async pop3(d) {
    const greeting = await d.line("the POP3 greeting (+OK)");
    if (!new TextDecoder().decode(greeting).startsWith("+OK")) {
      throw d.fail(`unexpected POP3 greeting ${d.quote(greeting)}`);
    }
    await d.send("STLS\r\n");
    const reply = await d.line("the reply to STLS (+OK)");
    if (!new TextDecoder().decode(reply).startsWith("+OK")) {
      throw d.fail(`the server answered ${d.quote(reply)} to STLS`);
    }
  },

  async ftp(d) {
    await d.expectCode("220", "the FTP greeting (220)", true);
    await d.send("AUTH TLS\r\n");
    await d.expectCode("234", "the reply to AUTH TLS (234)", true);
  },

  async postgres(d) {
    // SSLRequest: Int32 length 8, Int32 code 80877103 (1234 << 16 | 5679).
    await d.send(new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
    const answer = await d.byte();
    if (answer === null) {
      throw d.fail("the server closed the connection instead of answering the SSLRequest");
    }
    if (answer === 0x53) return; // 'S'
    if (answer === 0x4e) throw d.fail(`the server refuses SSL (answered "N" to the SSLRequest)`);
    throw d.fail(
      `unexpected answer to the SSLRequest: ${
        d.quote(new Uint8Array([answer]))
      } (not a PostgreSQL server, or one too old for SSL)`,
    );
  },
};

/**
 * The TLS facts of one connection as text lines for `-v` output.
 *
 * @module
 */

import type { TlsFacts } from "../facts.ts";
import { escapeText } from "./safe_text.ts";

/** `2027-11-29T12:39:44.000Z` -> `2027-11-29 12:39 UTC`. */
function day(iso: string): string {
  return escapeText(iso.replace(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d).*$/, "$1 $2 UTC"));
}

/**
 * One line each: protocol and cipher, ALPN, verification, the leaf's subject,
 * issuer, names, validity with days left, serial and SHA-256, then the chain
 * (leaf first). Every string that came from the network is escaped.
 *
 * @example
 * ```ts
 * import { tlsLines } from "./tls_text.ts";
 * const lines = tlsLines({
 *   protocol: "TLSv1.3",
 *   cipher: "TLS_AES_256_GCM_SHA384",
 *   alpn: null,
 *   verified: true,
 *   verifyError: null,
 *   certificate: null,
 *   chain: [],
 * });
 * console.log(lines[0]); // tls: TLSv1.3 TLS_AES_256_GCM_SHA384
 * ```
 */
export function tlsLines(facts: TlsFacts): string[] {
  const lines = [
    `tls: ${escapeText(facts.protocol ?? "?")} ${escapeText(facts.cipher ?? "?")}`,
    `alpn: ${facts.alpn === null ? "none" : escapeText(facts.alpn)}`,
    `verified: ${facts.verified ? "yes" : `no (${escapeText(facts.verifyError ?? "unknown")})`}`,
  ];
  const cert = facts.certificate;
  if (cert === null) {
    lines.push("certificate: none sent");
  } else {
    const left = cert.daysLeft < 0
      ? `expired ${-cert.daysLeft} days ago`
      : `${cert.daysLeft} days left`;
    lines.push(
      `subject: ${escapeText(cert.subject)}`,
      `issuer: ${escapeText(cert.issuer)}`,
      `names: ${
        cert.subjectAltNames.length === 0
          ? "none"
          : cert.subjectAltNames.map((name) => escapeText(name)).join(", ")
      }`,
      `valid: ${day(cert.notBefore)} to ${day(cert.notAfter)} (${left})`,
      `serial: ${escapeText(cert.serial)} sha256: ${escapeText(cert.sha256)}`,
    );
  }
  facts.chain.forEach((entry, i) => {
    lines.push(
      `chain ${i}: ${escapeText(entry.subject)} (issuer ${escapeText(entry.issuer)}, until ${
        day(entry.notAfter)
      })`,
    );
  });
  return lines;
}

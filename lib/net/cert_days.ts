/**
 * `--cert-days N`: a leaf certificate that expires within N days fails the
 * probe, as check_tcp's `-D` (and blackbox_exporter alerts on
 * `probe_ssl_earliest_cert_expiry`) do for monitoring.
 *
 * @module
 */

import type { TlsFacts } from "./conn.ts";
import { TlsError } from "./tls_error.ts";

/** Options of {@linkcode certDaysError}. */
export interface CertDaysOptions {
  /** The least whole days the leaf must still be valid. */
  days: number;
  /** The target as `host:port`, for the message. */
  address: string;
  /** The flag named in the message. @default {"--cert-days"} */
  flag?: string;
}

/**
 * A {@linkcode TlsError} (kind `tls`, carrying `facts`) when the leaf
 * certificate has fewer than `days` whole days left, else null. A peer that
 * sent no certificate is not judged here (the handshake already said so).
 *
 * @example
 * ```ts
 * import { certDaysError } from "./cert_days.ts";
 * declare const facts: import("./conn.ts").TlsFacts;
 * const err = certDaysError(facts, { days: 30, address: "127.0.0.1:443" });
 * console.log(err?.message);
 * // tls "127.0.0.1:443": certificate expires in 3 days (notAfter 2026-12-02), under --cert-days 30
 * ```
 */
export function certDaysError(facts: TlsFacts, options: CertDaysOptions): TlsError | null {
  const leaf = facts.certificate;
  if (leaf === null || leaf.daysLeft >= options.days) return null;
  return new TlsError(
    `${certDaysText(leaf.daysLeft, leaf.notAfter)}, under ${
      options.flag ?? "--cert-days"
    } ${options.days}`,
    { address: options.address, facts },
  );
}

/**
 * `certificate expires in 3 days (notAfter 2026-12-02)`, or `expired 2 days
 * ago`, or `expires today`.
 *
 * @example
 * ```ts
 * import { certDaysText } from "./cert_days.ts";
 * console.log(certDaysText(1, "2026-12-01T00:00:00.000Z")); // certificate expires in 1 day (notAfter 2026-12-01)
 * ```
 */
export function certDaysText(daysLeft: number, notAfter: string): string {
  const date = notAfter.slice(0, 10);
  const plural = (n: number) => `${n} day${n === 1 ? "" : "s"}`;
  const when = daysLeft > 0
    ? `expires in ${plural(daysLeft)}`
    : daysLeft === 0
    ? "expires today"
    : `expired ${plural(-daysLeft)} ago`;
  return `certificate ${when} (notAfter ${date})`;
}

/**
 * The error of a failed TLS handshake or verification, with what the
 * handshake learned. A module of its own, without node:tls, so the probe
 * workers (connect-only) do not load the TLS stack.
 *
 * @module
 */

import { NetError } from "../errors.ts";
import type { TlsFacts } from "../facts.ts";

/**
 * A TLS failure: a {@linkcode NetError} of kind `tls` (exit 7, op `tls`) that
 * also carries what the handshake learned, so that a JSON record can show the
 * certificate of a server that failed verification.
 *
 * @example
 * ```ts
 * import { TlsError } from "./tls_error.ts";
 * const err = new TlsError("certificate expired on 2021-01-01 00:00 UTC (notAfter)", {
 *   address: "127.0.0.1:4433",
 *   facts: null,
 * });
 * console.log(err.kind, err.message); // tls tls "127.0.0.1:4433": certificate expired ...
 * ```
 */
export class TlsError extends NetError {
  /** The handshake's facts, or null when the handshake did not finish. */
  readonly facts: TlsFacts | null;

  /** Builds `tls "address": detail`. */
  constructor(
    detail: string,
    options: { address: string; facts: TlsFacts | null; op?: string; cause?: unknown },
  ) {
    super("tls", detail, {
      op: options.op ?? "tls",
      address: options.address,
      cause: options.cause,
    });
    this.name = "TlsError";
    this.facts = options.facts;
  }
}

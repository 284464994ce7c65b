/**
 * What the layers of one connection learned (per-phase times, TLS and proxy
 * facts): plain records that the network layer fills in and the reports read.
 * They sit below both, so imports point down.
 *
 * @module
 */

/** Per-phase times of one dial, in ms; null when the phase did not happen. */
export interface PhaseTimings {
  /** Name resolution (0 for an IP literal). */
  resolveMs: number | null;
  /** TCP connect to the first hop (the proxy when there is one). */
  connectMs: number | null;
  /** Proxy handshake until the tunnel to the target is ready (proxy connect included). */
  proxyMs: number | null;
  /** TLS handshake. */
  tlsMs: number | null;
}

/** A certificate as reports show it. Dates are ISO 8601 (UTC). */
export interface CertificateFacts {
  /** Subject, e.g. `CN=localhost`. */
  subject: string;
  /** Issuer, e.g. `CN=tcpc test CA`. */
  issuer: string;
  /** DNS names and IP addresses it is valid for (`DNS:` / `IP:` prefixes removed). */
  subjectAltNames: string[];
  /** Start of validity. */
  notBefore: string;
  /** End of validity. */
  notAfter: string;
  /** Whole days from now to `notAfter` (negative once expired). */
  daysLeft: number;
  /** SHA-256 fingerprint, colon-separated hex. */
  sha256: string;
  /** Serial number, hex. */
  serial: string;
}

/** One certificate of the chain the peer sent, leaf first. */
export interface ChainEntry {
  /** Subject. */
  subject: string;
  /** Issuer. */
  issuer: string;
  /** End of validity, ISO 8601. */
  notAfter: string;
}

/** What the TLS handshake learned (the JSON `tls` field). */
export interface TlsFacts {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** Negotiated cipher suite name. */
  cipher: string | null;
  /** Negotiated ALPN protocol, or null. */
  alpn: string | null;
  /** True when the chain and the name verified. */
  verified: boolean;
  /** Why verification failed (OpenSSL's code, e.g. `CERT_HAS_EXPIRED`), or null. */
  verifyError: string | null;
  /** The peer's leaf certificate, or null when it sent none. */
  certificate: CertificateFacts | null;
  /** The chain as sent, leaf first. */
  chain: ChainEntry[];
}

/** The proxy a connection went through (never its credentials). */
export interface ProxyFacts {
  /** The proxy protocol. */
  type: "socks5" | "socks5h" | "socks4" | "socks4a" | "http";
  /** The proxy's `host:port`. */
  address: string;
}

/** What every layer of one connection learned. */
export interface ConnFacts {
  /** Every address the host (or the proxy's host) resolved to, in the order tried. */
  addresses: string[];
  /** Per-phase times. */
  timings: PhaseTimings;
  /** TLS facts, or null without TLS. */
  tls: TlsFacts | null;
  /** The proxy, or null without one. */
  proxy: ProxyFacts | null;
}

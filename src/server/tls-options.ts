/**
 * HTTPS served by Errand itself (issue 12): the TLS options of the Node https server, from the PEM
 * files `errand serve` read at start. Pure.
 */
import type { HttpLimits } from './http-options.ts';

export interface TlsFiles {
  /** Server certificate chain (PEM), leaf first. */
  cert: Buffer;
  key: Buffer;
  /** CA bundle (PEM) client certificates are verified against; unset: none are asked for. */
  clientCa?: Buffer;
}

export function tlsServerOptions(tls: TlsFiles, limits: HttpLimits) {
  return {
    cert: tls.cert,
    key: tls.key,
    // A client ending the handshake with no certificate, or with one that does not verify, is let
    // in all the same: it may carry another credential, and one with none gets Errand's JSON 401
    // instead of a TLS alert it cannot read. The certificate counts only when `authorized`
    // (auth/client-cert.ts).
    ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    // The handshake comes before the request's headers can: it gets the same time (Node: 120 s).
    handshakeTimeout: limits.headersTimeoutMs,
  };
}

/**
 * Client certificates (issue 12, Patavi's mode): when Errand serves HTTPS itself with --client-ca,
 * the TLS handshake asks every client for a certificate but lets one without a certificate in (so
 * API keys, JWTs and capability links work on the same port and a caller with nothing gets
 * Errand's JSON 401, not a handshake failure). A certificate that verifies against the CA bundle
 * makes the caller `cert:<subject>`; one that does not verify counts as no certificate.
 *
 * The subject is written as RFC 4514 writes a distinguished name: the whole DN, most specific RDN
 * first, `,` between RDNs and `+` inside a multi-valued one, short attribute names (CN, OU, O, L,
 * ST, C, DC, emailAddress; a dotted OID for others), and `, + " \ < > ;`, a leading `#` or space
 * and a trailing space escaped with a backslash, control characters as `\XX`, other characters
 * (UTF-8) as they are. For such subjects this is exactly what
 * `openssl x509 -noout -subject -nameopt RFC2253,-esc_msb` prints after `subject=`, so an operator
 * can read a principal off a certificate file. The whole DN, not the CN alone: a CN is unique only
 * within what one issuer hands out, and the DN's O/OU/DC parts say whose "alice" this is. The
 * issuer is not part of it, so a renewed certificate (new key, serial or dates, same subject) stays
 * the same principal and keeps its tasks; in return every CA in --client-ca can name any principal,
 * so the bundle must hold only CAs trusted for the whole namespace (as with nginx's
 * ssl_client_certificate).
 */
import { TLSSocket } from 'node:tls';
import type { X509Certificate } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { parseScopes, principalOf } from '../../core/index.ts';
import type { Grant, Principal } from '../../core/index.ts';

/** What the scopes of every certificate principal are (from --client-cert-scope). */
export interface ClientCertSettings {
  /** PEM bundle client certificates are verified against; unset: the mode is off. */
  tls?: { clientCa?: string | Buffer };
  clientCertGrant?: Grant;
}

/** Patavi let trusted certificates write: submit, and read and cancel what they submitted. */
export const DEFAULT_CLIENT_CERT_SCOPES = 'submit read cancel';
const DEFAULT_GRANT = parseScopes([DEFAULT_CLIENT_CERT_SCOPES]);

/**
 * Node prints a subject (`X509Certificate.subject`) one RDN per line, first RDN first, the values
 * of a multi-valued RDN joined by ` + `, values escaped as RFC 2253 says (so a `+` or a newline in
 * a value is always escaped). This turns that into the canonical form above: RFC 2253's order is
 * the reverse of the certificate's, entry by entry (as OpenSSL reverses it), within an RDN too.
 */
export function rfc4514Subject(multiline: string | undefined): string {
  if (!multiline) return '';
  const rdns = multiline.split('\n').filter(Boolean).map(splitRdn);
  const entries = rdns.flatMap((rdn, index) => rdn.map((entry) => ({ entry, index }))).reverse();
  let out = '';
  for (let i = 0; i < entries.length; i++) {
    const { entry, index } = entries[i]!;
    if (i > 0) out += entries[i - 1]!.index === index ? '+' : ',';
    out += entry;
  }
  return out;
}

/** `OU=R\+D + O=Ex\, Ltd` → [`OU=R\+D`, `O=Ex\, Ltd`]: splits on ` + ` whose `+` is not escaped. */
function splitRdn(line: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') { i++; continue; }
    if (line[i] === '+' && line[i - 1] === ' ' && line[i + 1] === ' ') {
      parts.push(line.slice(start, i - 1));
      start = i + 2;
    }
  }
  parts.push(line.slice(start));
  return parts;
}

export function certificateSubject(certificate: X509Certificate): string {
  return rfc4514Subject(certificate.subject);
}

/**
 * The principal of a request's verified client certificate, or undefined: no client-certificate
 * mode, a plain connection, no certificate, one that does not verify (logged at debug with
 * OpenSSL's reason), or one with an empty subject (nothing to name an owner by).
 */
export function certificatePrincipal(request: FastifyRequest, settings: ClientCertSettings): Principal | undefined {
  if (settings.tls?.clientCa === undefined) return undefined;
  const socket = request.raw.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const certificate = socket.getPeerX509Certificate();
  if (certificate === undefined) return undefined;
  const subject = certificateSubject(certificate);
  if (!socket.authorized) {
    request.log.debug({ subject, reason: String(socket.authorizationError) }, 'client certificate does not verify against --client-ca: treated as none');
    return undefined;
  }
  if (subject === '') {
    request.log.debug({ fingerprint: certificate.fingerprint256 }, 'client certificate has an empty subject: treated as none');
    return undefined;
  }
  const validTo = Date.parse(certificate.validTo);
  return principalOf(`cert:${subject}`, 'client-cert', settings.clientCertGrant ?? DEFAULT_GRANT, Number.isFinite(validTo) ? validTo : undefined);
}

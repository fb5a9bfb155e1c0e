export { createApp } from './app.ts';
export type { AppDeps } from './app.ts';
export type { ServerSettings } from './context.ts';
export { leaseNodeId } from './node-lease.ts';
export type { NodeIdLease } from './node-lease.ts';
export { listeningUrl } from './links.ts';
export { certificatePrincipal, certificateSubject, DEFAULT_CLIENT_CERT_SCOPES } from './auth/client-cert.ts';
export type { TlsFiles } from './tls-options.ts';
// API keys (issue 12)
export { createApiKeyVerifier, createSingleKeyCheck, principalOfStoredKey, DEFAULT_API_KEY_CACHE_MS, DEFAULT_API_KEY_CACHE_SIZE } from './auth/api-keys.ts';
export type { ApiKeyVerifier, ApiKeyVerifierOptions, SingleApiKey } from './auth/api-keys.ts';
// JWT bearer tokens (issue 12): the auth hook's JWT mode.
export { createJwtVerifier } from './auth/jwt.ts';
export type { JwtOutcome, JwtRefusal, JwtVerifier, JwtVerifierOptions } from './auth/jwt.ts';
// Who may do what (issue 12)
export { createAuthenticator } from './auth/authenticate.ts';
export type { Authenticator, AuthSettings } from './auth/authenticate.ts';
export { authSettingsOf, PATAVI_KEY_NAME, PATAVI_KEY_SCOPES } from './app.ts';

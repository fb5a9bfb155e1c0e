export { createApp } from './app.ts';
export type { AppDeps } from './app.ts';
export type { ServerSettings } from './context.ts';
export { leaseNodeId } from './node-lease.ts';
export type { NodeIdLease } from './node-lease.ts';
export { listeningUrl } from './links.ts';
export { certificatePrincipal, certificateSubject, DEFAULT_CLIENT_CERT_SCOPES } from './auth/client-cert.ts';
export type { TlsFiles } from './tls-options.ts';

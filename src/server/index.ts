export { createApp } from './app.ts';
export type { AppDeps } from './app.ts';
export type { ServerSettings } from './context.ts';
export { leaseNodeId } from './node-lease.ts';
export type { NodeIdLease } from './node-lease.ts';
export { listeningUrl } from './links.ts';
// JWT bearer tokens (issue 12): the auth hook's JWT mode.
export { createJwtVerifier } from './auth/jwt.ts';
export type { JwtOutcome, JwtRefusal, JwtVerifier, JwtVerifierOptions } from './auth/jwt.ts';

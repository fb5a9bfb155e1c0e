export { createApp } from './app.ts';
export type { AppDeps } from './app.ts';
export type { ServerSettings } from './context.ts';
export { leaseNodeId } from './node-lease.ts';
export type { NodeIdLease } from './node-lease.ts';
export { listeningUrl } from './links.ts';
// API keys (issue 12)
export { createApiKeyVerifier, createSingleKeyCheck, principalOfStoredKey, DEFAULT_API_KEY_CACHE_MS, DEFAULT_API_KEY_CACHE_SIZE } from './auth/api-keys.ts';
export type { ApiKeyVerifier, ApiKeyVerifierOptions, SingleApiKey } from './auth/api-keys.ts';

export { createApp } from './app.ts';
export type { AppDeps } from './app.ts';
export type { ServerSettings } from './context.ts';
export { leaseNodeId } from './node-lease.ts';
export type { NodeIdLease } from './node-lease.ts';
export { listeningUrl } from './links.ts';

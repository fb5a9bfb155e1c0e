/**
 * Services written as Node modules: `export async function run(input, ctx)`, returning the result.
 * `ctx.progress(x)` reports progress, `ctx.signal` says when to stop, `ctx.saveFile(...)` adds a
 * file and makes the result a multi-file one (index + files), as Patavi's `save.plot` does in R.
 *
 * A service loaded from a folder runs in a pool of child processes (node/pool.ts), so that a task
 * that ignores its stop is killed; a service given as a function runs in the worker
 * (node/in-process.ts).
 */
export { createNodeExecutor } from './node/in-process.ts';
export { loadNodeService } from './node/load.ts';
export type { NodeServiceContext, NodeServiceRun } from './node/load.ts';
export { createNodePoolExecutor, KILL_GRACE_MS, NodeLoadError, startNodePool } from './node/pool.ts';
export type { NodeExecutor, NodePoolOptions } from './node/pool.ts';

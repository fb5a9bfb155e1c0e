/**
 * What a Node service is: a module exporting `run(input, ctx)`. Shared by the worker and the child
 * process that runs a service, so it imports nothing heavier than node:url.
 */
import { pathToFileURL } from 'node:url';
import type { ServiceContext, ServiceRun } from '../../../index.ts';

/** The public contract (src/index.ts, what `import type ... from 'errand'` gives a service author). */
export type NodeServiceContext = ServiceContext;
export type NodeServiceRun = ServiceRun;

/** Loads a module and checks it exports `run` (named, or as `default.run`). */
export async function loadNodeService(entryPath: string): Promise<NodeServiceRun> {
  const module = (await import(pathToFileURL(entryPath).href)) as { run?: unknown; default?: { run?: unknown } };
  const run = module.run ?? module.default?.run;
  if (typeof run !== 'function') throw new Error(`${entryPath} does not export a function named run`);
  return run as NodeServiceRun;
}

/** The code a thrown value fails its task with: its own `code` when that is snake_case. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? code : 'script_error';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

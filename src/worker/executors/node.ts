/**
 * Services written as Node modules: `export async function run(input, ctx)`, returning the result.
 * `ctx.progress(x)` reports progress, `ctx.signal` says when to stop, `ctx.saveFile(...)` adds a
 * file and makes the result a multi-file one (index + files), as Patavi's `save.plot` does in R.
 */
import { pathToFileURL } from 'node:url';
import type { ResultFile } from '../../core/index.ts';
import type { Executor, Outcome, TaskRun } from '../executor.ts';
import { stoppedOutcome } from '../executor.ts';

export interface NodeServiceContext {
  taskId: string;
  service: string;
  signal: AbortSignal;
  progress(data: unknown): void;
  saveFile(name: string, content: Buffer | Uint8Array | string, contentType: string): void;
}

export type NodeServiceRun = (input: unknown, ctx: NodeServiceContext) => unknown;

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? code : 'script_error';
}

export function createNodeExecutor(run: NodeServiceRun): Executor {
  return {
    async run(task: TaskRun): Promise<Outcome> {
      const files: ResultFile[] = [];
      const ctx: NodeServiceContext = {
        taskId: task.taskId,
        service: task.service,
        signal: task.signal,
        progress: (data) => task.progress(data),
        saveFile(name, content, contentType) {
          files.push({ name, contentType, content: Buffer.isBuffer(content) ? content : Buffer.from(content) });
        },
      };
      try {
        const index = await run(task.input, ctx);
        if (task.signal.aborted) return stoppedOutcome(task.signal);
        return { status: 'done', index: index === undefined ? null : index, files };
      } catch (err) {
        // A service that stops when told reports how it was stopped, not the error it threw.
        if (task.signal.aborted) return stoppedOutcome(task.signal);
        const message = err instanceof Error ? err.message : String(err);
        return { status: 'failed', error: { code: errorCode(err), message } };
      }
    },
    async close() {},
  };
}

/** Loads a module and checks it exports `run`. */
export async function loadNodeService(entryPath: string): Promise<NodeServiceRun> {
  const module = (await import(pathToFileURL(entryPath).href)) as { run?: unknown; default?: { run?: unknown } };
  const run = module.run ?? module.default?.run;
  if (typeof run !== 'function') throw new Error(`${entryPath} does not export a function named run`);
  return run as NodeServiceRun;
}

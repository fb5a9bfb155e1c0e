/**
 * A Node service given as a function, run inside the worker process: for tests and for embedding
 * Errand in a program that defines its services in code. A stop aborts `ctx.signal`, but code
 * that ignores it runs on; services loaded from a folder run in child processes (pool.ts) instead.
 */
import type { ResultFile } from '../../../core/index.ts';
import type { Executor, Outcome, TaskRun } from '../../executor.ts';
import { stoppedOutcome } from '../../executor.ts';
import { errorCode, errorMessage } from './load.ts';
import type { NodeServiceContext, NodeServiceRun } from './load.ts';

export function createNodeExecutor(run: NodeServiceRun): Executor {
  return {
    async run(task: TaskRun): Promise<Outcome> {
      const files: ResultFile[] = [];
      let cacheable = true;
      const ctx: NodeServiceContext = {
        taskId: task.taskId,
        service: task.service,
        signal: task.signal,
        progress: (data) => task.progress(data),
        saveFile(name, content, contentType) {
          files.push({ name, contentType, content: Buffer.isBuffer(content) ? content : Buffer.from(content) });
        },
        noCache() {
          cacheable = false;
        },
      };
      try {
        const index = await run(task.input, ctx);
        if (task.signal.aborted) return stoppedOutcome(task.signal);
        return { status: 'done', index: index === undefined ? null : index, files, ...(cacheable ? {} : { cacheable: false }) };
      } catch (err) {
        // A service that stops when told reports how it was stopped, not the error it threw.
        if (task.signal.aborted) return stoppedOutcome(task.signal);
        return { status: 'failed', error: { code: errorCode(err), message: errorMessage(err) } };
      }
    },
    async close() {},
  };
}

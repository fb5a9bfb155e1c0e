/** A task's description as the task routes answer it: a queued task's says where it stands in the queue. */
import { estimateStartSeconds } from '../core/index.ts';
import type { Caller, TaskDescription, TaskInfo } from '../core/index.ts';
import type { Callbacks, TaskCallback, TaskReads } from '../store/index.ts';
import type { RouteContext } from './context.ts';

export type DescribeContext = Pick<RouteContext, 'linker' | 'registry'> & { store: Pick<TaskReads, 'queuePosition'> & Pick<Callbacks, 'getCallbacks'> };

/** A callback as the task description shows it (issue 14): its URL, state, and every attempt. */
export function callbackView(callback: TaskCallback): Record<string, unknown> {
  return {
    url: callback.url,
    state: callback.state,
    ...(callback.nextAt ? { nextAttemptAt: callback.nextAt.toISOString() } : {}),
    attempts: callback.attempts.map((a) => ({
      attempt: a.attempt,
      at: a.at.toISOString(),
      ...(a.durationMs !== null ? { durationMs: a.durationMs } : {}),
      ...(a.statusCode !== null ? { statusCode: a.statusCode } : {}),
      ...(a.error !== null ? { error: a.error } : {}),
      ...(a.retryAt ? { retryAt: a.retryAt.toISOString() } : {}),
    })),
  };
}

/**
 * A task's callbacks for the description: to callers reading with their own credential only. A
 * task link (the browser of the submitter's user) is not shown where the submitter's server is
 * told, nor how it answers.
 */
export async function callbacksFor(ctx: DescribeContext, caller: Caller, task: Pick<TaskInfo, 'id' | 'hasCallbacks'>): Promise<Record<string, unknown>[] | undefined> {
  if (!task.hasCallbacks || caller.capability !== undefined) return undefined;
  return (await ctx.store.getCallbacks(task.id)).map(callbackView);
}

/** The task description as `caller` sees it, with a start estimate while it waits in the queue. */
export async function describeWithEstimate(ctx: DescribeContext, caller: Caller, task: TaskInfo, statusOverride?: 'no-workers'): Promise<TaskDescription> {
  const description = ctx.linker.describe(caller, task, statusOverride);
  if (task.status === 'queued') {
    const view = ctx.registry.service(task.service);
    const position = await ctx.store.queuePosition(task);
    const workers = view?.online ? view.workers : [];
    const estimate = estimateStartSeconds({
      queuedAhead: position.queuedAhead,
      running: workers.reduce((n, w) => n + w.busy, 0),
      capacity: workers.reduce((n, w) => n + w.concurrency, 0),
      meanDurationSeconds: position.meanDurationSeconds,
    });
    description.queue = { ahead: position.queuedAhead, ...(estimate !== undefined ? { estimatedStartSeconds: estimate } : {}) };
  }
  const callbacks = await callbacksFor(ctx, caller, task);
  if (callbacks) description.callbacks = callbacks;
  return description;
}

/**
 * A task as the task list shows it: its description without the queue estimate (that is a query
 * per task; GET /task/:id has it), and with its owner for a caller who may list every task's.
 */
export function describeListed(ctx: Pick<RouteContext, 'linker'>, caller: Caller, task: TaskInfo, showOwner: boolean): TaskDescription {
  const description = ctx.linker.describe(caller, task);
  if (showOwner) description.owner = task.owner;
  return description;
}

/** A task's description as the task routes answer it: a queued task's says where it stands in the queue. */
import { estimateStartSeconds } from '../core/index.ts';
import type { Caller, TaskDescription, TaskInfo } from '../core/index.ts';
import type { TaskReads } from '../store/index.ts';
import type { RouteContext } from './context.ts';

export type DescribeContext = Pick<RouteContext, 'linker' | 'registry'> & { store: Pick<TaskReads, 'queuePosition'> };

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

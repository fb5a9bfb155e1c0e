/**
 * POST /task/:id/cancel and DELETE /task/:id past HTTP: who may change the task, the change, and
 * telling workers (stop it) and watchers (it ended). A delete cancels a task still under way
 * first, so that it stops and its watchers hear it.
 */
import type { Logger } from 'pino';
import { changeAccess, encodeControl, ErrandError } from '../core/index.ts';
import type { Caller, TaskDescription, TaskEvent, TaskInfo } from '../core/index.ts';
import type { TaskChanges, TaskReads } from '../store/index.ts';
import { notFound, requireAllowed } from './access.ts';
import type { RouteContext } from './context.ts';

export interface ChangeContext extends Pick<RouteContext, 'broker' | 'publisher' | 'linker'> {
  store: TaskChanges & Pick<TaskReads, 'getTask'>;
}

type Log = Pick<Logger, 'warn'>;

/**
 * The task, when `caller` may cancel or delete it: refused before anything changes, with the 404
 * of a missing task when the caller may not even read it.
 */
async function changeableTask(ctx: ChangeContext, caller: Caller, id: string, verb: 'cancel' | 'delete'): Promise<TaskInfo> {
  // Without a credential the answer does not depend on the task (only a credential changes
  // anything): nothing is looked up.
  if (!caller.principal) requireAllowed(changeAccess(caller, { id, owner: null }, verb), id);
  const task = await ctx.store.getTask(id);
  if (!task) throw notFound(id);
  requireAllowed(changeAccess(caller, task, verb), id);
  return task;
}

/** Tells every worker to stop (or never start) the task, and every watcher that it ended. */
async function announceCancel(ctx: ChangeContext, id: string, events: TaskEvent[], log: Log): Promise<void> {
  ctx.publisher.written(events);
  await ctx.broker.broadcast('control', encodeControl({ type: 'cancel', taskIds: [id] })).catch((err: Error) => {
    log.warn({ taskId: id, err: err.message }, 'could not tell the workers of a cancel; a worker running it finishes and its result is ignored');
  });
}

/** Cancels a queued or running task; returns its description as `caller` now sees it. */
export async function cancelTask(ctx: ChangeContext, caller: Caller, id: string, log: Log): Promise<TaskDescription> {
  await changeableTask(ctx, caller, id, 'cancel');
  const outcome = await ctx.store.cancelTask(id, caller.principal?.id);
  if (outcome.kind === 'unknown-task') throw notFound(id);
  if (outcome.kind === 'ended') throw new ErrandError('task_ended', `task ${id} has already ended (${outcome.status}); only a queued or running task can be canceled`, 'id');
  await announceCancel(ctx, id, outcome.events, log);
  const task = await ctx.store.getTask(id);
  return ctx.linker.describe(caller, task ?? { id, service: outcome.events[0]!.service, status: 'canceled' });
}

/** Deletes a task and its results, canceling it first when it is still queued or running. */
export async function deleteTask(ctx: ChangeContext, caller: Caller, id: string, log: Log): Promise<void> {
  await changeableTask(ctx, caller, id, 'delete');
  const by = caller.principal?.id;
  const canceled = await ctx.store.cancelTask(id, by);
  if (canceled.kind === 'canceled') await announceCancel(ctx, id, canceled.events, log);
  const removed = await ctx.store.deleteTask(id, by);
  if (!removed.deleted) throw notFound(id);
  ctx.publisher.written(removed.events);
}

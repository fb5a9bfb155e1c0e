/**
 * The dashboard's view of tasks as events arrive: plain functions from (tasks, event) to tasks, so
 * that a list stays right whatever order a page read and live events meet in. A task only moves
 * forward (queued, running, ended), so an event older than what a page already showed changes
 * nothing, and applying one event twice changes nothing the second time.
 */
import type { TaskDescription, TaskEvent, TaskFilter, TaskStatus } from '../client/index.ts';

const RANK: Record<string, number> = { queued: 0, 'no-workers': 0, running: 1, done: 2, failed: 2, canceled: 2, expired: 2 };

export const isEnded = (status: string): boolean => RANK[status] === 2;

/** A started task's place in the queue is history. */
function withoutQueue(task: TaskDescription): TaskDescription {
  const { queue: _queue, ...rest } = task;
  return rest;
}

/** What the event makes of the task (undefined: the event does not concern a known task's view). */
export function applyEvent(task: TaskDescription, event: TaskEvent): TaskDescription {
  const data = event.data as { percent?: unknown; etaSeconds?: unknown; value?: unknown; error?: TaskDescription['error']; attempt?: unknown };
  const status = task.status;
  switch (event.type) {
    case 'queued':
      // Queued anew after a lost worker: the only step back a task takes.
      return data && (data as { requeued?: unknown }).requeued && !isEnded(status) ? { ...task, status: 'queued' } : task;
    case 'started':
    case 'retried':
      if (isEnded(status)) return task;
      return { ...withoutQueue(task), status: 'running', startedAt: task.startedAt ?? event.at, ...(typeof data.attempt === 'number' ? { attempts: data.attempt } : {}) };
    case 'progress':
      if (isEnded(status)) return task;
      return {
        ...withoutQueue(task),
        status: 'running',
        progress: {
          value: data.value,
          at: event.at,
          ...(typeof data.percent === 'number' ? { percent: data.percent } : {}),
          ...(typeof data.etaSeconds === 'number' ? { etaSeconds: data.etaSeconds } : {}),
        },
      };
    case 'done':
    case 'failed':
    case 'canceled':
    case 'expired': {
      if (isEnded(status)) return task;
      const { progress: _progress, queue: _queue, ...rest } = task;
      return { ...rest, status: event.type as TaskStatus, completedAt: event.at, ...(data.error ? { error: data.error } : {}) };
    }
    default:
      return task;
  }
}

/** The status an event moves a task into, for the events that mark a move. */
function statusOf(type: TaskEvent['type']): TaskStatus | undefined {
  if (type === 'queued') return 'queued';
  if (type === 'started') return 'running';
  if (type === 'done' || type === 'failed' || type === 'canceled' || type === 'expired') return type;
  return undefined;
}

/**
 * Whether a task the list has not seen belongs in it, from the event that moved it into `status`:
 * an unfiltered list takes new tasks as they are queued; a status filter takes tasks as they reach
 * that status. Filters an event cannot answer (owner, times of the task's other moves) take none.
 */
export function admits(event: TaskEvent, status: TaskStatus, filter: TaskFilter): boolean {
  if (filter.service && event.service !== filter.service) return false;
  if (filter.owner || filter.createdUntil || filter.completedSince || filter.completedUntil) return false;
  const statuses = filter.status === undefined ? [] : Array.isArray(filter.status) ? filter.status : [filter.status];
  if (statuses.length === 0 ? status !== 'queued' : !statuses.includes(status)) return false;
  if (filter.createdSince && (status !== 'queued' || Date.parse(event.at) < Date.parse(filter.createdSince))) return false;
  if (filter.errorCode && (event.data as { error?: { code?: unknown } }).error?.code !== filter.errorCode) return false;
  return true;
}

/** The row a task the list had not seen gets from the event that brought it in. */
export function taskFromEvent(event: TaskEvent, status: TaskStatus, base: string): TaskDescription {
  const task: TaskDescription = { id: event.taskId, service: event.service, status: 'queued', _links: { self: { href: `${base}/task/${event.taskId}` } } };
  if (status === 'queued') return { ...task, createdAt: event.at };
  return applyEvent(status === 'running' ? task : { ...task, status: 'running' }, event);
}

/**
 * A list after a batch of events: known tasks updated, new ones matching the filter put first
 * (newest first), deleted ones and ones no longer matching a status filter left out, at most
 * `limit` kept. Each task appears once.
 */
export function applyToList(list: TaskDescription[], events: TaskEvent[], filter: TaskFilter, base: string, limit: number): TaskDescription[] {
  const byId = new Map(list.map((task) => [task.id, task] as const));
  const added: TaskDescription[] = [];
  for (const event of events) {
    const known = byId.get(event.taskId);
    if (event.type === 'deleted') {
      byId.delete(event.taskId);
      continue;
    }
    if (known) byId.set(event.taskId, applyEvent(known, event));
    else {
      const status = statusOf(event.type);
      if (status && !(event.data as { requeued?: unknown }).requeued && admits(event, status, filter)) {
        const task = taskFromEvent(event, status, base);
        byId.set(task.id, task);
        added.unshift(task);
      }
    }
  }
  const statuses = filter.status === undefined ? [] : Array.isArray(filter.status) ? filter.status : [filter.status];
  const keep = (task: TaskDescription) => byId.get(task.id) !== undefined && (statuses.length === 0 || statuses.includes(task.status as TaskStatus));
  const addedIds = new Set(added.map((t) => t.id));
  const result = [...added, ...list.filter((task) => !addedIds.has(task.id))].filter(keep).map((task) => byId.get(task.id)!);
  return result.slice(0, limit);
}

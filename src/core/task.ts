/** Task states and the task description every route returns (Patavi's shape plus additive fields). */

export const TaskStatuses = ['queued', 'running', 'done', 'failed', 'canceled', 'expired'] as const;
export type TaskStatus = (typeof TaskStatuses)[number];

const TERMINAL: ReadonlySet<TaskStatus> = new Set(['done', 'failed', 'canceled', 'expired']);

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL.has(status);
}

/** Patavi clients know `done` and `failed` only: canceled and expired reach them as failed. */
export function pataviTerminalEvent(status: TaskStatus): 'done' | 'failed' {
  return status === 'done' ? 'done' : 'failed';
}

export interface TaskError { code: string; message: string; detail?: unknown }

/** One task as the store returns it (no input, result or files: those are fetched on their own). */
export interface TaskInfo {
  id: string;
  service: string;
  status: TaskStatus;
  owner: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  expiresAt: Date | null;
  attempts: number;
  worker: string | null;
  hasScript: boolean;
  hasConsole?: boolean;
  error: TaskError | null;
  /** Still queued at this time, the task expires. */
  deadline?: Date | null;
  /** The latest progress of a running task: the value reported, and percent and time left when known. */
  progress?: { value: unknown; percent?: number; etaSeconds?: number; at: string } | null;
  /** A submission named a callback URL (issue 14): the description shows its deliveries. */
  hasCallbacks?: boolean;
}

export interface Links { http: string; ws: string }

export interface Href { href: string }

export interface TaskDescription {
  id: string;
  service: string;
  status: TaskStatus | 'no-workers';
  _links: { self: Href; updates: Href; task: Href; events?: Href; cancel?: Href; results?: Href; script?: Href; console?: Href };
  [extra: string]: unknown;
}

export function taskUrl(base: Links, id: string): string {
  return `${base.http}/task/${id}`;
}

export function resultsUrl(base: Links, id: string): string {
  return `${base.http}/task/${id}/results`;
}

/** Key order as Patavi's: id, service, status, _links; Errand's additions come after. */
export function describeTask(
  base: Links,
  task: Pick<TaskInfo, 'id' | 'service' | 'status'> & Partial<TaskInfo>,
  statusOverride?: 'no-workers',
): TaskDescription {
  const self = taskUrl(base, task.id);
  const links: TaskDescription['_links'] = {
    self: { href: self },
    updates: { href: `${base.ws}/task/${task.id}/updates` },
    task: { href: `${self}/task` },
    events: { href: `${self}/events` },
  };
  if (!isTerminal(task.status)) links.cancel = { href: `${self}/cancel` };
  if (isTerminal(task.status)) links.results = { href: resultsUrl(base, task.id) };
  if (task.hasScript) links.script = { href: `${self}/script` };
  if (task.hasConsole) links.console = { href: `${self}/console` };
  const description: TaskDescription = { id: task.id, service: task.service, status: statusOverride ?? task.status, _links: links };
  if (task.createdAt) description.createdAt = task.createdAt.toISOString();
  if (task.startedAt) description.startedAt = task.startedAt.toISOString();
  if (task.completedAt) description.completedAt = task.completedAt.toISOString();
  if (task.expiresAt) description.expiresAt = task.expiresAt.toISOString();
  if (task.deadline) description.deadline = task.deadline.toISOString();
  if (task.attempts) description.attempts = task.attempts;
  if (task.progress && !isTerminal(task.status)) description.progress = task.progress;
  if (task.error) description.error = task.error;
  return description;
}

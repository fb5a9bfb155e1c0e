/**
 * The wire types of Errand's HTTP API as a client sees them (docs/api.md, docs/events.md). Kept
 * here rather than imported from the server's core so that the client bundles for a browser with
 * nothing of Node's.
 */

export type TaskStatus = 'queued' | 'running' | 'done' | 'failed' | 'canceled' | 'expired';
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set<TaskStatus>(['done', 'failed', 'canceled', 'expired']);

/** `console`: what a running task printed, `{text}`, as it printed it (docs/events.md). */
export type EventType = 'queued' | 'started' | 'progress' | 'console' | 'retried' | 'done' | 'failed' | 'canceled' | 'expired' | 'deleted';
export const EVENT_TYPES: readonly EventType[] = ['queued', 'started', 'progress', 'console', 'retried', 'done', 'failed', 'canceled', 'expired', 'deleted'];
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set<EventType>(['done', 'failed', 'canceled', 'expired']);

export interface Link { href: string }

export interface TaskError { code: string; message: string; [detail: string]: unknown }

export interface TaskProgress { value: unknown; percent?: number; etaSeconds?: number; at: string }

/** What `POST /task`, `GET /task/:id` and `GET /tasks` answer (docs/api.md, "The task description"). */
export interface TaskDescription {
  id: string;
  service: string;
  /** `no-workers` only in the answer to a submission that no worker consumes yet. */
  status: TaskStatus | 'no-workers';
  _links: Record<string, Link | undefined> & { self: Link };
  createdAt?: string;
  startedAt?: string;
  completedAt?: string;
  expiresAt?: string;
  deadline?: string;
  attempts?: number;
  error?: TaskError;
  progress?: TaskProgress;
  queue?: { ahead: number; estimatedStartSeconds?: number };
  owner?: string | null;
  cache?: { status: string };
  [more: string]: unknown;
}

/** One entry of the event log (docs/events.md). */
export interface TaskEvent {
  id: number;
  taskId: string;
  service: string;
  type: EventType;
  data: Record<string, unknown>;
  at: string;
}

export interface ServiceSummary {
  name: string;
  version?: string;
  description?: string;
  runtime?: string;
  online: boolean;
  workers?: number;
  capacity?: number;
  busy?: number;
  announced?: boolean;
  _links?: Record<string, Link>;
  [more: string]: unknown;
}

export interface ServiceDetail extends ServiceSummary {
  inputSchema?: unknown;
  example?: unknown;
  docs?: string;
  timeout?: string;
  ttl?: string;
  queue?: { messages: number; consumers: number };
}

export interface ServiceStats {
  service: string;
  tasks: { queued: number; running: number; oldestQueuedSeconds?: number | null };
  workers: { online: number; slots: number };
  estimatedWaitSeconds?: number | null;
  /** Share (0 to 1) of the tasks that ran and ended in each window that failed; null when none ended. */
  failureRate?: Record<'1m' | '5m' | '15m', number | null>;
  [more: string]: unknown;
}

export interface WorkerView {
  id?: string;
  host?: string;
  lastSeen: string;
  slots: number;
  running: number;
  done: number | null;
  services: Array<{ name: string; version: string; slots: number; running: number }>;
  [more: string]: unknown;
}

/** The filters of `GET /tasks` (docs/api.md). */
export interface TaskFilter {
  service?: string;
  status?: TaskStatus | TaskStatus[];
  owner?: string;
  createdSince?: string;
  createdUntil?: string;
  completedSince?: string;
  completedUntil?: string;
  errorCode?: string;
  /** Tasks per page (the server's default is 50). */
  limit?: number;
}

export interface TaskPage { tasks: TaskDescription[]; next?: string }

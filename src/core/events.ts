/**
 * The event log's vocabulary. Every state change of a task is an event with an id that only
 * grows: ids are handed out under one lock and committed in id order, so a reader that has seen
 * id N has seen every event below N that will ever exist (see docs/events.md).
 *
 * Glossary: an *event* is one row of `task_event`; a *stream* is a client's ordered view of the
 * events that match its *filter*, starting after a *since* id; *live* events are those committed
 * after the stream joined.
 */

import type { TaskStatus } from './task.ts';

export const EventTypes = ['queued', 'started', 'progress', 'console', 'retried', 'done', 'failed', 'canceled', 'expired', 'deleted'] as const;
export type EventType = (typeof EventTypes)[number];

/** A task's status after an event of this type (`deleted` once it is gone); undefined for progress and console output, which leave it as it was. */
export function statusAfter(type: EventType): TaskStatus | 'deleted' | undefined {
  switch (type) {
    case 'queued': return 'queued';
    case 'started': case 'retried': return 'running';
    case 'progress': case 'console': return undefined;
    default: return type;
  }
}

/** Event types after which a task changes no more (`deleted` may still follow). */
export const TERMINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set(['done', 'failed', 'canceled', 'expired']);

export interface TaskEvent {
  id: number;
  taskId: string;
  service: string;
  type: EventType;
  data: unknown;
  at: Date;
  /** The task's owner (issue 12): streams carry a caller only its own tasks' events unless it reads all. Never sent to clients. */
  owner: string | null;
}

/** An event about to be written: the store gives it its id and time. */
export interface NewEvent {
  taskId: string;
  service: string;
  type: EventType;
  data: unknown;
  /** The task's owner, when the task row can no longer say (a `deleted` event); otherwise read from the row. */
  owner?: string | null;
}

/** What a stream keeps: every field given narrows it; an empty filter lets everything through. */
export interface EventFilter {
  tasks?: ReadonlySet<string>;
  services?: ReadonlySet<string>;
  types?: ReadonlySet<EventType>;
  /** Only events of tasks this principal owns (set by the server from the caller, never by a client). */
  owner?: string;
}

export function matchesFilter(filter: EventFilter, event: Pick<TaskEvent, 'taskId' | 'service' | 'type' | 'owner'>): boolean {
  return (!filter.tasks || filter.tasks.has(event.taskId))
    && (!filter.services || filter.services.has(event.service))
    && (!filter.types || filter.types.has(event.type))
    && (filter.owner === undefined || filter.owner === event.owner);
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EventTypes as readonly string[]).includes(value);
}

/** An event as Errand's processes pass it on `errand.events` (JSON); clients get it without the owner. */
export interface EventJson { id: number; taskId: string; service: string; type: EventType; data: unknown; at: string; owner?: string | null }

export function eventToJson(event: TaskEvent): EventJson {
  return { id: event.id, taskId: event.taskId, service: event.service, type: event.type, data: event.data, at: event.at.toISOString(), owner: event.owner };
}

export function eventFromJson(json: EventJson): TaskEvent {
  return { id: json.id, taskId: json.taskId, service: json.service, type: json.type, data: json.data, at: new Date(json.at), owner: typeof json.owner === 'string' ? json.owner : null };
}

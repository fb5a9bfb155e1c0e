/**
 * The event log's vocabulary. Every state change of a task is an event with an id that only
 * grows: ids are handed out under one lock and committed in id order, so a reader that has seen
 * id N has seen every event below N that will ever exist (see docs/events.md).
 *
 * Glossary: an *event* is one row of `task_event`; a *stream* is a client's ordered view of the
 * events that match its *filter*, starting after a *since* id; *live* events are those committed
 * after the stream joined.
 */

export const EventTypes = ['queued', 'started', 'progress', 'retried', 'done', 'failed', 'canceled', 'expired', 'deleted'] as const;
export type EventType = (typeof EventTypes)[number];

/** Event types after which a task changes no more (`deleted` may still follow). */
export const TERMINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set(['done', 'failed', 'canceled', 'expired']);

export interface TaskEvent {
  id: number;
  taskId: string;
  service: string;
  type: EventType;
  data: unknown;
  at: Date;
}

/** An event about to be written: the store gives it its id and time. */
export interface NewEvent {
  taskId: string;
  service: string;
  type: EventType;
  data: unknown;
}

/** What a stream keeps: every field given narrows it; an empty filter lets everything through. */
export interface EventFilter {
  tasks?: ReadonlySet<string>;
  services?: ReadonlySet<string>;
  types?: ReadonlySet<EventType>;
}

export function matchesFilter(filter: EventFilter, event: Pick<TaskEvent, 'taskId' | 'service' | 'type'>): boolean {
  return (!filter.tasks || filter.tasks.has(event.taskId))
    && (!filter.services || filter.services.has(event.service))
    && (!filter.types || filter.types.has(event.type));
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EventTypes as readonly string[]).includes(value);
}

/** An event as clients receive it (JSON). */
export interface EventJson { id: number; taskId: string; service: string; type: EventType; data: unknown; at: string }

export function eventToJson(event: TaskEvent): EventJson {
  return { id: event.id, taskId: event.taskId, service: event.service, type: event.type, data: event.data, at: event.at.toISOString() };
}

export function eventFromJson(json: EventJson): TaskEvent {
  return { id: json.id, taskId: json.taskId, service: json.service, type: json.type, data: json.data, at: new Date(json.at) };
}

/**
 * Reads what a client asks of an event stream, from WebSocket subscribe messages and SSE query
 * strings alike: the filter (task ids, services, event types) and the starting point.
 */
import { ErrandError, EventTypes, isEventType, isTaskId, serviceNameProblem } from '../core/index.ts';
import type { EventFilter, EventType } from '../core/index.ts';
import type { StreamStart } from './event-stream.ts';

export const MAX_FILTER_TASKS = 1000;
export const MAX_FILTER_SERVICES = 100;
export const MAX_LAST = 10_000;

export interface FilterInput { tasks?: unknown; services?: unknown; types?: unknown }

function list(value: unknown, field: string, max: number): unknown[] | undefined {
  if (value === undefined || value === null) return undefined;
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw new ErrandError('invalid_field', `${field} must not be empty (leave it out to take all)`, field);
  if (items.length > max) throw new ErrandError('invalid_field', `${field} may hold at most ${max} values`, field);
  return items;
}

/** The names a request gives the filter's fields: `filter.tasks` in a subscribe message, `task` in a query string. */
export type FilterFieldNames = Record<keyof FilterInput, string>;
export const QUERY_FILTER_FIELDS: FilterFieldNames = { tasks: 'task', services: 'service', types: 'type' };

export function parseFilter(input: FilterInput, fieldPrefix = '', names: FilterFieldNames = { tasks: 'tasks', services: 'services', types: 'types' }): EventFilter {
  const filter: EventFilter = {};
  const field = { tasks: `${fieldPrefix}${names.tasks}`, services: `${fieldPrefix}${names.services}`, types: `${fieldPrefix}${names.types}` };
  const tasks = list(input.tasks, field.tasks, MAX_FILTER_TASKS);
  if (tasks) {
    const bad = tasks.find((t) => !isTaskId(t));
    if (bad !== undefined) throw new ErrandError('invalid_id', `${field.tasks} holds ${JSON.stringify(bad)}, not a task id (16 lower-case hex digits)`, field.tasks);
    filter.tasks = new Set(tasks as string[]);
  }
  const services = list(input.services, field.services, MAX_FILTER_SERVICES);
  if (services) {
    const bad = services.find((s) => typeof s !== 'string' || serviceNameProblem(s) !== undefined);
    if (bad !== undefined) throw new ErrandError('invalid_field', `${field.services} holds ${JSON.stringify(bad)}, not a service name`, field.services);
    filter.services = new Set(services as string[]);
  }
  const types = list(input.types, field.types, EventTypes.length);
  if (types) {
    const bad = types.find((t) => !isEventType(t));
    if (bad !== undefined) throw new ErrandError('invalid_field', `${field.types} holds ${JSON.stringify(bad)}; event types are ${EventTypes.join(', ')}`, field.types);
    filter.types = new Set(types as EventType[]);
  }
  return filter;
}

function count(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ErrandError('invalid_field', `${field} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`, field);
  }
  return n;
}

export function parseStart(since: unknown, last: unknown): StreamStart {
  const s = count(since, 'since', 0, Number.MAX_SAFE_INTEGER);
  const l = count(last, 'last', 1, MAX_LAST);
  if (s !== undefined && l !== undefined) throw new ErrandError('invalid_field', 'give since or last, not both', 'last');
  return { ...(s !== undefined ? { since: s } : {}), ...(l !== undefined ? { last: l } : {}) };
}

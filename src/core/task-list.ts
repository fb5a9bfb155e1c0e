/**
 * The task list (`GET /tasks`, issue 14): its filters, its order and the cursor that pages it.
 *
 * Order: newest first by (created_at, id). created_at is the database's clock when the task was
 * stored, one clock for every server, and what each item shows as `createdAt`, so the list reads
 * in the order it shows; ids break ties (a group commit stores a whole batch at one created_at).
 * Ordering by id alone would spare an index, but an id carries its server's clock: with several
 * servers whose clocks differ, the list would show `createdAt` out of order.
 *
 * Paging is by keyset: a cursor is the (created_at, id) of the last task of a page, and the next
 * page holds the tasks strictly after it in that order. Both never change once a task is stored,
 * and the pair is unique, so a walk through the pages shows every task that existed when it began
 * exactly once, whatever is stored meanwhile: a task stored after the walk passed its place is
 * simply not in this walk (a new walk from the first page shows it), and none shifts another.
 * An offset would show a task twice for every task stored ahead of it.
 */
import { canBeIssued, isTaskId } from './ids.ts';
import { ErrandError } from './errors.ts';
import type { TaskInfo, TaskStatus } from './task.ts';

/** Tasks on a page when `limit` is not given. */
export const DEFAULT_TASK_LIST_LIMIT = 50;
/** Largest `limit` unless --max-task-list-limit says otherwise. */
export const DEFAULT_MAX_TASK_LIST_LIMIT = 500;

/** A place in the list: a task's created_at in microseconds since the epoch (decimal text: beyond JS numbers' exact range is not needed, but the database's precision is kept whole), and its id. */
export interface TaskListCursor { createdMicros: string; id: string }

/** What a page is asked for, once the caller's rights are applied (`owner` is set for a caller who reads only its own). */
export interface TaskListQuery {
  service?: string;
  /** One or several; none: any status. */
  statuses?: readonly TaskStatus[];
  owner?: string;
  /** Inclusive lower and exclusive upper bounds. */
  createdSince?: Date;
  createdUntil?: Date;
  completedSince?: Date;
  completedUntil?: Date;
  /** The `code` of the task's error: failed, canceled and expired tasks have one. */
  errorCode?: string;
  /** Tasks after this place in the order (older ones); none: from the newest. */
  after?: TaskListCursor;
  limit: number;
}

export interface TaskPage {
  tasks: TaskInfo[];
  /** Where the next page starts, when there are more tasks. */
  next?: TaskListCursor;
}

/** Microseconds fit 16 digits until the year 2286; more is no cursor Errand made. */
const CURSOR_TEXT = /^(\d{1,16}):([0-9a-f]{16})$/;

/** The cursor as it travels: opaque to clients (base64url of `<micros>:<id>`), so its form may change. */
export function encodeTaskCursor(cursor: TaskListCursor): string {
  return Buffer.from(`${cursor.createdMicros}:${cursor.id}`).toString('base64url');
}

/** The cursor a client sent back; `invalid_field` (field `cursor`) for anything Errand did not make. */
export function decodeTaskCursor(text: string, field = 'cursor'): TaskListCursor {
  const bad = () => new ErrandError('invalid_field', 'cursor is not one this server gave: pass on the cursor of a `next` link as it is', field);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) throw bad();
  const match = CURSOR_TEXT.exec(Buffer.from(text, 'base64url').toString('latin1'));
  if (!match || !isTaskId(match[2]) || !canBeIssued(match[2]!)) throw bad();
  // Leading zeros would give one place several spellings: only the one Errand writes.
  const createdMicros = BigInt(match[1]!).toString();
  if (createdMicros !== match[1]) throw bad();
  return { createdMicros, id: match[2]! };
}

/**
 * A time given for a filter (`createdSince=2026-12-01T00:00:00Z`): its schema has already
 * checked it is an RFC 3339 date-time; what JavaScript cannot represent (a leap second) is
 * refused here, naming the field. Times before the epoch are the epoch: no task is older.
 */
export function filterTime(text: string, field: string): Date {
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new ErrandError('invalid_field', `${field} must be a date-time such as 2026-12-01T00:00:00Z, got ${JSON.stringify(text.slice(0, 64))}`, field);
  return new Date(Math.max(0, ms));
}

import { canBeIssued, ErrandError, isTaskId } from '../../core/index.ts';

/**
 * A task id that is not 16 lower-case hex digits answers 400. Routes check their `:id` with their
 * schema (api-schemas.ts); this is for ids that come otherwise.
 */
export function requireTaskId(value: unknown, field = 'id'): string {
  if (!isTaskId(value)) {
    throw new ErrandError('invalid_id', `task id must be 16 lower-case hex digits, got ${JSON.stringify(value)}`, field);
  }
  return value;
}

/**
 * A well-formed id that names no task answers 404 as any unknown id does, without a query: ids
 * past PostgreSQL's bigint are never issued, and the database would refuse them with an error.
 * For an id its route's schema has already found well formed.
 */
export function issuedTaskId(id: string, field = 'id'): string {
  if (!canBeIssued(id)) throw new ErrandError('not_found', `no task ${id}`, field);
  return id;
}

/** requireTaskId and issuedTaskId together. */
export function requireExistingTaskId(value: unknown, field = 'id'): string {
  return issuedTaskId(requireTaskId(value, field), field);
}

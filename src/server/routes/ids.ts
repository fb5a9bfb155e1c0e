import { canBeIssued, ErrandError, isTaskId } from '../../core/index.ts';

/** Every route given a task id that is not 16 lower-case hex digits answers 400. */
export function requireTaskId(value: unknown, field = 'id'): string {
  if (!isTaskId(value)) {
    throw new ErrandError('invalid_id', `task id must be 16 lower-case hex digits, got ${JSON.stringify(value)}`, field);
  }
  return value;
}

/**
 * A well-formed id that names no task answers 404 as any unknown id does, without a query: ids
 * past PostgreSQL's bigint are never issued, and the database would refuse them with an error.
 */
export function requireExistingTaskId(value: unknown, field = 'id'): string {
  const id = requireTaskId(value, field);
  if (!canBeIssued(id)) throw new ErrandError('not_found', `no task ${id}`, field);
  return id;
}

import { ErrandError, isTaskId } from '../../core/index.ts';

/** Every route given a task id that is not 16 lower-case hex digits answers 400. */
export function requireTaskId(value: unknown, field = 'id'): string {
  if (!isTaskId(value)) {
    throw new ErrandError('invalid_id', `task id must be 16 lower-case hex digits, got ${JSON.stringify(value)}`, field);
  }
  return value;
}

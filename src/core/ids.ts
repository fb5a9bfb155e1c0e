/**
 * Task ids: 64-bit flake ids (Patavi's layout), shown as exactly 16 lower-case hex digits.
 *   42 bits  milliseconds since the Unix epoch
 *   10 bits  node id (0..1023), unique per running server: configured or leased in the database
 *   12 bits  sequence within one millisecond
 * 2^42 ms is ~139 years, but PostgreSQL's bigint is signed: ids stay below 2^63 only while the
 * milliseconds are below 2^41, until 2039-09-07 (see canBeIssued).
 */

export const MAX_NODE_ID = 1023;
const SEQUENCE_LIMIT = 4096;

/** A task id as JSON Schemas write it (route schemas, the OpenAPI description). */
export const TASK_ID_PATTERN = '^[0-9a-f]{16}$';
const TASK_ID = new RegExp(TASK_ID_PATTERN);

export function isTaskId(value: unknown): value is string {
  return typeof value === 'string' && TASK_ID.test(value);
}

/** A task id that can name a stored task: well formed and within PostgreSQL's bigint. */
export function isIssuableTaskId(value: unknown): value is string {
  return isTaskId(value) && canBeIssued(value);
}

/**
 * Well-formed ids from 8000000000000000 up are past PostgreSQL's signed bigint: no task has one
 * (the clock reaches them at 2^41 ms, 2039-09-07), and a query given one fails. Callers answer
 * "no such task" instead of asking the database.
 */
export function canBeIssued(hex: string): boolean {
  return hex.charCodeAt(0) < 0x38; // '0'..'7'
}

/** Decimal text of the id, the form both SQL drivers bind to a bigint parameter without loss. */
export function taskIdToDecimal(hex: string): string {
  return BigInt('0x' + hex).toString();
}

export function composeTaskId(millis: number, nodeId: number, sequence: number): string {
  const value = (BigInt(millis) << 22n) | (BigInt(nodeId) << 12n) | BigInt(sequence);
  return value.toString(16).padStart(16, '0');
}

export interface TaskIdParts { millis: number; nodeId: number; sequence: number }

export function decomposeTaskId(hex: string): TaskIdParts {
  const value = BigInt('0x' + hex);
  return {
    millis: Number(value >> 22n),
    nodeId: Number((value >> 12n) & 1023n),
    sequence: Number(value & 4095n),
  };
}

/**
 * Generates ids for one node. Never throws: when a millisecond's 4096 ids are used up, or the
 * clock steps backwards, it carries on from the last millisecond it used (ids stay unique and
 * ordered; they run slightly ahead of the wall clock until it catches up).
 */
export class FlakeIdGenerator {
  private lastMillis = 0;
  private sequence = 0;

  constructor(readonly nodeId: number, private readonly now: () => number = Date.now) {
    if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > MAX_NODE_ID) {
      throw new RangeError(`node id must be an integer from 0 to ${MAX_NODE_ID}, got ${nodeId}`);
    }
  }

  next(): string {
    const millis = this.now();
    if (millis > this.lastMillis) {
      this.lastMillis = millis;
      this.sequence = 0;
    } else if (++this.sequence >= SEQUENCE_LIMIT) {
      this.lastMillis += 1;
      this.sequence = 0;
    }
    return composeTaskId(this.lastMillis, this.nodeId, this.sequence);
  }
}

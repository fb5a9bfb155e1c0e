/**
 * How a task moves when a worker reports: pure decisions over the task's current row, so the
 * store only locks, asks and writes. Reports can arrive out of order (started and progress travel
 * on different queues, recorders run side by side), so each attempt carries its worker's run id:
 * progress of the attempt under way counts, a late report of an earlier attempt does not.
 */
import type { NewEvent } from './events.ts';
import { estimateRemainingSeconds, readPercent } from './progress.ts';
import type { TaskError, TaskStatus } from './task.ts';
import { isTerminal } from './task.ts';

export interface TaskSnapshot {
  id: string;
  service: string;
  status: TaskStatus;
  runId: string | null;
  attempts: number;
  worker: string | null;
  progressSeq: number | null;
  startedAt: Date | null;
}

export interface StartReport {
  worker: string | null;
  runId: string | null;
  /** The worker got a copy of a task it still runs, and says so: a task queued again is running after all. */
  resumed?: boolean;
}

export interface ProgressReport extends StartReport {
  /** The attempt's own count of its progress reports; null from workers that send none (Patavi's). */
  seq: number | null;
  value: unknown;
  /** Set for what the script printed (an `<id>.console` message) rather than a progress value. */
  console?: string;
}

export const WORKER_LOST: TaskError['code'] = 'worker_lost';

/** A change to write to the task row, with the events it makes. */
export type Transition =
  | { kind: 'start'; runId: string | null; worker: string | null; attempt: number; events: NewEvent[] }
  | { kind: 'give-up'; error: TaskError; events: NewEvent[] }
  /** The attempt the janitor took for lost reports in again: it is running after all. */
  | { kind: 'resume'; worker: string | null; events: NewEvent[] }
  | { kind: 'progress'; seq: number | null; progress: ProgressState; events: NewEvent[] }
  | { kind: 'none'; reason: 'ended' | 'same-attempt' | 'stale' | 'out-of-order' };

export interface ProgressState { value: unknown; percent?: number; etaSeconds?: number; at: string }

/** A worker started (or is evidently running) the task: a new attempt, unless it is the one under way. */
export function decideStart(task: TaskSnapshot, report: StartReport, maxAttempts: number): Transition {
  if (report.runId !== null && task.runId === report.runId) {
    // The attempt the task was queued again after: its worker got the copy and still runs it.
    // (A plain late start report of that attempt proves nothing about now.)
    if (task.status === 'queued' && report.resumed === true) {
      const data = { worker: report.worker, attempt: task.attempts, resumed: true };
      return { kind: 'resume', worker: report.worker, events: [{ taskId: task.id, service: task.service, type: 'started', data }] };
    }
    // The attempt under way, or the one whose result already ended the task (it overtook this report).
    return { kind: 'none', reason: 'same-attempt' };
  }
  if (isTerminal(task.status)) return { kind: 'none', reason: 'ended' };
  const attempt = task.attempts + 1;
  const base = { taskId: task.id, service: task.service };
  if (attempt > maxAttempts) {
    const error = { code: WORKER_LOST, message: `the task was started ${task.attempts} times and its worker was lost each time (limit ${maxAttempts})` };
    return { kind: 'give-up', error, events: [{ ...base, type: 'failed', data: { error } }] };
  }
  const events: NewEvent[] = [];
  if (attempt > 1) events.push({ ...base, type: 'retried', data: { attempt, previousWorker: task.worker } });
  events.push({ ...base, type: 'started', data: { worker: report.worker, attempt } });
  return { kind: 'start', runId: report.runId, worker: report.worker, attempt, events };
}

/**
 * A progress report. A queued task is started by it (its started report is still on the way); a
 * report of another attempt, or older than one already kept, changes nothing.
 */
export function decideProgress(task: TaskSnapshot, report: ProgressReport, now: Date): Transition {
  if (isTerminal(task.status)) return { kind: 'none', reason: 'ended' };
  if (task.status === 'running') {
    if (report.runId !== null && task.runId !== null && report.runId !== task.runId) return { kind: 'none', reason: 'stale' };
    if (report.seq !== null && task.progressSeq !== null && report.seq <= task.progressSeq) return { kind: 'none', reason: 'out-of-order' };
  }
  const percent = readPercent(report.value);
  const elapsed = task.startedAt ? (now.getTime() - task.startedAt.getTime()) / 1000 : 0;
  const etaSeconds = percent === undefined ? undefined : estimateRemainingSeconds(percent, elapsed);
  const progress: ProgressState = {
    value: report.value,
    ...(percent !== undefined ? { percent } : {}),
    ...(etaSeconds !== undefined ? { etaSeconds } : {}),
    at: now.toISOString(),
  };
  const { at: _at, ...data } = progress;
  return { kind: 'progress', seq: report.seq, progress, events: [{ taskId: task.id, service: task.service, type: 'progress', data }] };
}

/**
 * What a running attempt printed: a `console` event, which changes nothing on the task row. Output
 * of another attempt, or of a task that has ended (its whole console came with its result), is
 * dropped.
 */
export function decideConsole(task: TaskSnapshot, report: ProgressReport & { console: string }): NewEvent[] {
  if (task.status !== 'running' || report.console === '') return [];
  if (report.runId !== null && task.runId !== null && report.runId !== task.runId) return [];
  return [{ taskId: task.id, service: task.service, type: 'console', data: { text: report.console } }];
}

/** Applies a start to the snapshot, as the row will read once written. */
export function afterStart(task: TaskSnapshot, start: Extract<Transition, { kind: 'start' }>, now: Date): TaskSnapshot {
  return { ...task, status: 'running', runId: start.runId, worker: start.worker, attempts: start.attempt, progressSeq: null, startedAt: now };
}

/**
 * What workers report, as the recorder writes it: scripts, starts and progress (results are in
 * sql-results.ts). Each batch locks its tasks' rows and lets core decide every transition.
 */
import { afterStart, decideConsole, decideProgress, decideStart, taskIdToDecimal } from '../core/index.ts';
import type { NewEvent, ProgressState, TaskError, TaskEvent, TaskStatus } from '../core/index.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';
import { appendEvents } from './sql-events.ts';
import { completeTasks } from './sql-results.ts';
import { endTasks, lockSnapshots, startTasks } from './sql-task-rows.ts';
import type { StartRow } from './sql-task-rows.ts';
import type { ProgressUpdate, StartedTask, StartOutcome, WorkerReports } from './store.ts';

/** Attempts a task gets when the caller gives no limit. */
export const DEFAULT_MAX_ATTEMPTS = 3;

async function startRows(q: SqlQueryable, tasks: StartedTask[], maxAttempts: number): Promise<StartOutcome[]> {
  const snapshots = await lockSnapshots(q, tasks.map((t) => t.id));
  const now = new Date();
  const starts: StartRow[] = [];
  const ends: Array<{ id: string; status: TaskStatus; error: TaskError }> = [];
  const events: NewEvent[] = [];
  const scripts: Array<{ id: string; script: string }> = [];
  const resumes: string[] = [];
  const decided = tasks.map((report): StartOutcome | { pending: 'started' | 'gave-up'; attempt: number } => {
    const task = snapshots.get(report.id);
    if (!task) return { kind: 'unknown-task' };
    const transition = decideStart(task, { worker: report.worker, runId: report.runId ?? null, resumed: report.resumed === true }, maxAttempts);
    switch (transition.kind) {
      case 'start':
        snapshots.set(task.id, afterStart(task, transition, now));
        starts.push({ id: task.id, runId: transition.runId, worker: transition.worker, attempt: transition.attempt, script: report.script ?? null, startedAt: report.startedAt ?? null });
        events.push(...transition.events);
        return { pending: 'started', attempt: transition.attempt };
      case 'give-up':
        snapshots.set(task.id, { ...task, status: 'failed' });
        ends.push({ id: task.id, status: 'failed', error: transition.error });
        events.push(...transition.events);
        return { pending: 'gave-up', attempt: task.attempts };
      case 'resume':
        snapshots.set(task.id, { ...task, status: 'running' });
        resumes.push(task.id);
        events.push(...transition.events);
        return { pending: 'started', attempt: task.attempts };
      default:
        if (report.script) scripts.push({ id: task.id, script: report.script });
        return transition.kind === 'none' && transition.reason === 'same-attempt' ? { kind: 'already-started' } : { kind: 'ended', status: task.status };
    }
  });
  // A task started twice in one batch keeps the last start; earlier rows are superseded.
  await startTasks(q, [...new Map(starts.map((s) => [s.id, s])).values()]);
  if (resumes.length > 0) await q.query(`UPDATE task SET status = 'running' WHERE id = ANY($1::bigint[]) AND status = 'queued'`, [resumes.map(taskIdToDecimal)]);
  await endTasks(q, ends);
  for (const { id, script } of scripts) await q.query('UPDATE task SET script = coalesce(script, $2) WHERE id = $1', [taskIdToDecimal(id), script]);
  const written = await appendEvents(q, events);
  const eventsOf = (id: string) => written.filter((e) => e.taskId === id);
  const seen = new Set<string>();
  return decided.map((d, i) => {
    if ('kind' in d) return d;
    const id = tasks[i]!.id;
    // Each task's events go with its first report in the batch, so none is published twice.
    const mine = seen.has(id) ? [] : eventsOf(id);
    seen.add(id);
    return d.pending === 'started' ? { kind: 'started', attempt: d.attempt, events: mine } : { kind: 'gave-up', events: mine };
  });
}

async function progressRows(q: SqlQueryable, updates: ProgressUpdate[], maxAttempts: number): Promise<TaskEvent[]> {
  const snapshots = await lockSnapshots(q, updates.map((u) => u.id));
  const now = new Date();
  const starts = new Map<string, StartRow>();
  const ends: Array<{ id: string; status: TaskStatus; error: TaskError }> = [];
  const latest = new Map<string, { seq: number | null; progress: ProgressState }>();
  const events: NewEvent[] = [];
  for (const update of updates) {
    let task = snapshots.get(update.id);
    if (!task) continue;
    if (task.status === 'queued') {
      // Progress overtook the start report: the task is running, as this attempt.
      const start = decideStart(task, update, maxAttempts);
      if (start.kind === 'give-up') {
        snapshots.set(task.id, { ...task, status: 'failed' });
        ends.push({ id: task.id, status: 'failed', error: start.error });
        events.push(...start.events);
        continue;
      }
      if (start.kind !== 'start') continue;
      task = afterStart(task, start, now);
      starts.set(task.id, { id: task.id, runId: start.runId, worker: start.worker, attempt: start.attempt, script: null });
      events.push(...start.events);
    }
    if (update.console !== undefined) {
      snapshots.set(task.id, task);
      events.push(...decideConsole(task, { ...update, console: update.console }));
      continue;
    }
    const transition = decideProgress(task, update, now);
    if (transition.kind !== 'progress') { snapshots.set(task.id, task); continue; }
    snapshots.set(task.id, { ...task, progressSeq: transition.seq ?? task.progressSeq });
    latest.set(task.id, { seq: transition.seq, progress: transition.progress });
    events.push(...transition.events);
  }
  await startTasks(q, [...starts.values()]);
  await endTasks(q, ends);
  if (latest.size > 0) {
    const rows = [...latest.entries()];
    await q.query(
      `UPDATE task t SET progress = u.progress::jsonb, progress_seq = u.seq
       FROM unnest($1::bigint[], $2::text[], $3::int[]) AS u(id, progress, seq) WHERE t.id = u.id`,
      [rows.map(([id]) => taskIdToDecimal(id)), rows.map(([, p]) => JSON.stringify(p.progress)), rows.map(([, p]) => p.seq)],
    );
  }
  return appendEvents(q, events);
}

export function sqlWorkerReports(db: SqlClient): WorkerReports {
  return {
    async saveScript(id, script) {
      await db.query('UPDATE task SET script = $2 WHERE id = $1', [taskIdToDecimal(id), script]);
    },

    markStarted: (tasks, maxAttempts = DEFAULT_MAX_ATTEMPTS) => (tasks.length === 0 ? Promise.resolve([]) : db.transaction((tx) => startRows(tx, tasks, maxAttempts))),

    recordProgress: (updates, maxAttempts = DEFAULT_MAX_ATTEMPTS) => (updates.length === 0 ? Promise.resolve([]) : db.transaction((tx) => progressRows(tx, updates, maxAttempts))),

    completeTasks: (tasks) => completeTasks(db, tasks),
  };
}

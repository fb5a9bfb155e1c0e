/**
 * One task: its status, input, attempts and workers, live progress and time left, its events, the
 * console, the error (with R's traceback), the result (JSON as a tree, files inline), and cancel,
 * delete and "run again". Kept live by a subscription to the task's events from its first.
 */
import { useEffect, useState } from 'preact/hooks';
import { isErrandApiError } from '../../client/index.ts';
import type { TaskDescription, TaskEvent } from '../../client/index.ts';
import { JsonTree } from '../components/json-tree.tsx';
import { ProgressBar, StatusBadge } from '../components/progress-bar.tsx';
import { ResultFiles } from '../components/result-files.tsx';
import { useDashboard } from '../context.ts';
import { duration, errorText, secondsBetween, when } from '../format.ts';
import { applyEvent, isEnded } from '../task-state.ts';

interface Attempt { attempt: number; worker: string | null; at: string }

function attemptsOf(events: TaskEvent[]): Attempt[] {
  return events
    .filter((e) => e.type === 'started' && !(e.data as { resumed?: unknown }).resumed)
    .map((e) => ({ attempt: Number((e.data as { attempt?: unknown }).attempt ?? 1), worker: ((e.data as { worker?: unknown }).worker as string | null) ?? null, at: e.at }));
}

function ErrorBox({ error }: { error: NonNullable<TaskDescription['error']> }) {
  const detail = error.detail as { call?: unknown; traceback?: unknown } | undefined;
  const traceback = detail && Array.isArray(detail.traceback) ? detail.traceback.map(String) : [];
  return (
    <div class="error-box" data-testid="task-error">
      <strong>{error.code}</strong>: {error.message}
      {detail && typeof detail.call === 'string' ? <div class="muted">in <code>{detail.call}</code></div> : null}
      {traceback.length ? <pre class="traceback">{traceback.join('\n')}</pre> : null}
    </div>
  );
}

/** What the script printed so far, from its `console` events (the stored console replaces it at the end). */
const printedSoFar = (events: TaskEvent[]): string => events.filter((e) => e.type === 'console').map((e) => String((e.data as { text?: unknown }).text ?? '')).join('');

function EventLog({ events }: { events: TaskEvent[] }) {
  const moves = events.filter((e) => e.type !== 'console');
  const shown = moves.filter((e) => e.type !== 'progress').concat(moves.filter((e) => e.type === 'progress').slice(-1)).sort((a, b) => a.id - b.id);
  return (
    <ol class="events" data-testid="event-log">
      {shown.map((e) => (
        <li key={e.id} data-type={e.type}><span class="muted">{when(e.at)}</span> {e.type}{e.type === 'progress' && typeof (e.data as { percent?: unknown }).percent === 'number' ? ` ${Math.round((e.data as { percent: number }).percent)}%` : ''}</li>
      ))}
    </ol>
  );
}

export function TaskPage({ id, navigate }: { id: string; navigate(hash: string): void }) {
  const { client, events, place } = useDashboard();
  const [task, setTask] = useState<TaskDescription | null>(null);
  const [log, setLog] = useState<TaskEvent[]>([]);
  const [input, setInput] = useState<unknown>(undefined);
  const [result, setResult] = useState<{ value?: unknown; text?: string } | null>(null);
  const [consoleText, setConsole] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const linkMode = place.linkTaskId !== undefined;

  useEffect(() => {
    setTask(null);
    setLog([]);
    setInput(undefined);
    setResult(null);
    setConsole(null);
    setError(null);
    let live = true;
    client.get(id).then((t) => live && setTask((now) => now ?? t), (err: unknown) => live && setError(isErrandApiError(err, 'not_found') ? `No task ${id} (or not one you may see).` : errorText(err)));
    client.input(id).then((v) => live && setInput(v), () => {});
    // From the task's first event: the log is whole, and progress is current from the start.
    const unsubscribe = events.subscribe({ tasks: [id] }, (batch) => {
      setLog((old) => [...old, ...batch.filter((e) => !old.some((o) => o.id === e.id))]);
      setTask((now) => (now ? batch.reduce(applyEvent, now) : now));
      if (batch.some((e) => e.type === 'deleted')) setError('This task was deleted.');
    }, { since: 0 });
    return () => {
      live = false;
      unsubscribe();
    };
  }, [id, client, events]);

  const ended = task ? isEnded(task.status) : false;
  useEffect(() => {
    if (!ended) return;
    // The ended task's own description (links, error detail), then its result and console; an
    // answer that comes after the page moved to another task is dropped.
    let live = true;
    client.get(id).then((t) => live && setTask(t), () => {});
    client.resultsText(id).then((text) => {
      if (!live) return;
      try {
        setResult({ value: JSON.parse(text), text });
      } catch {
        setResult({ text });
      }
    }, () => live && setResult({}));
    client.console(id).then((text) => live && setConsole(text), () => {});
    return () => {
      live = false;
    };
  }, [ended, id]);

  const act = async (what: 'cancel' | 'delete') => {
    if (what === 'delete' && !confirm(`Delete task ${id}, its result and files?`)) return;
    setBusy(true);
    try {
      if (what === 'cancel') await client.cancel(id);
      else {
        await client.delete(id);
        navigate('#/tasks');
      }
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (error && !task) return <section><h1>Task</h1><p class="error" role="alert">{error}</p></section>;
  if (!task) return <section><p class="muted">Loading…</p></section>;
  const attempts = attemptsOf(log);
  const ran = secondsBetween(task.startedAt, task.completedAt);
  return (
    <section class="task-page" data-testid="task-page" data-task={task.id} data-status={task.status}>
      <h1><span class="mono">{task.id}</span> <StatusBadge status={task.status} /></h1>
      <p class="muted">{task.service} · created {when(task.createdAt)}{task.startedAt ? ` · started ${when(task.startedAt)}` : ''}{ran !== undefined ? ` · ran ${duration(ran)}` : ''}{typeof task.owner === 'string' ? ` · ${task.owner}` : ''}</p>
      {error ? <p class="error" role="alert">{error}</p> : null}
      <div class="actions">
        {!ended && !linkMode ? <button type="button" disabled={busy} onClick={() => act('cancel')}>Cancel</button> : null}
        {!linkMode ? <button type="button" disabled={busy} onClick={() => act('delete')}>Delete</button> : null}
        {!linkMode ? <button type="button" onClick={() => navigate(`#/submit/${encodeURIComponent(task.service)}?from=${task.id}`)}>Run again</button> : null}
      </div>
      <ProgressBar task={task} />
      {task.queue ? <p class="muted">{task.queue.ahead} ahead in the queue{task.queue.estimatedStartSeconds !== undefined ? `; starts in about ${duration(task.queue.estimatedStartSeconds)}` : ''}</p> : null}
      {task.error ? <ErrorBox error={task.error} /> : null}
      {result?.value !== undefined && task.status === 'done' ? (
        <div class="result"><h2>Result</h2><ResultFiles taskId={task.id} index={result.value} /><JsonTree value={result.value} /></div>
      ) : null}
      {result && result.value === undefined && result.text !== undefined ? <div class="result"><h2>Result</h2><pre>{result.text}</pre></div> : null}
      {consoleText ?? (ended ? null : printedSoFar(log) || null)
        ? <div><h2>Console{ended ? '' : ' (live)'}</h2><pre class="console" data-testid="console">{consoleText ?? printedSoFar(log)}</pre></div>
        : null}
      <div class="columns">
        <div><h2>Input</h2>{input !== undefined ? <JsonTree value={input} /> : <p class="muted">…</p>}</div>
        <div>
          <h2>Attempts</h2>
          {attempts.length ? <ul>{attempts.map((a) => <li key={a.attempt}>#{a.attempt} on {a.worker ?? 'a worker that does not say'} at {when(a.at)}</li>)}</ul> : <p class="muted">not started</p>}
          <h2>Events</h2>
          <EventLog events={log} />
        </div>
      </div>
    </section>
  );
}

/**
 * The task list: GET /tasks with its filters, a page at a time, kept live by the event socket.
 * The subscription is opened before the page is read, so a task submitted meanwhile is either on
 * the page or arrives as an event; rows are keyed by id, so none shows twice.
 */
import { useEffect, useState } from 'preact/hooks';
import { EVENT_TYPES } from '../../client/index.ts';
import type { ServiceSummary, TaskDescription, TaskFilter, TaskStatus } from '../../client/index.ts';
import { ProgressBar, StatusBadge } from '../components/progress-bar.tsx';
import { useDashboard } from '../context.ts';
import { duration, errorText, secondsBetween, when } from '../format.ts';
import { applyToList } from '../task-state.ts';

const STATUSES: TaskStatus[] = ['queued', 'running', 'done', 'failed', 'canceled', 'expired'];
export const PAGE_SIZE = 50;

/** The list's filters as the page's address keeps them (#/tasks?service=slow&status=failed). */
export function filterFromQuery(query: URLSearchParams): TaskFilter {
  const filter: TaskFilter = {};
  const service = query.get('service');
  if (service) filter.service = service;
  const statuses = query.getAll('status').filter((s): s is TaskStatus => (STATUSES as string[]).includes(s));
  if (statuses.length) filter.status = statuses;
  for (const name of ['owner', 'createdSince', 'errorCode'] as const) {
    const value = query.get(name);
    if (value) filter[name] = value;
  }
  return filter;
}

export function queryFromFilter(filter: TaskFilter): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filter)) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) query.append(name, String(one));
  }
  const text = query.toString();
  return text ? `?${text}` : '';
}

function Filters({ filter, services, onChange }: { filter: TaskFilter; services: ServiceSummary[]; onChange(filter: TaskFilter): void }) {
  const statuses = (filter.status ?? []) as TaskStatus[];
  const toggle = (status: TaskStatus) => {
    const next = statuses.includes(status) ? statuses.filter((s) => s !== status) : [...statuses, status];
    const { status: _old, ...rest } = filter;
    onChange(next.length ? { ...rest, status: next } : rest);
  };
  const set = (name: 'service' | 'owner' | 'errorCode', value: string) => {
    const { [name]: _old, ...rest } = filter;
    onChange(value ? { ...rest, [name]: value } : rest);
  };
  return (
    <div class="filters" data-testid="filters">
      <label>Service{' '}
        <select name="service" value={filter.service ?? ''} onChange={(e) => set('service', (e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          {services.map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
        </select>
      </label>
      <span class="chips" role="group" aria-label="status">
        {STATUSES.map((status) => (
          <button key={status} type="button" class={`chip${statuses.includes(status) ? ' on' : ''}`} aria-pressed={statuses.includes(status)} onClick={() => toggle(status)}>{status}</button>
        ))}
      </span>
      <label>Owner <input name="owner" size={12} value={filter.owner ?? ''} onChange={(e) => set('owner', (e.target as HTMLInputElement).value.trim())} /></label>
      <label>Error <input name="errorCode" size={10} value={filter.errorCode ?? ''} onChange={(e) => set('errorCode', (e.target as HTMLInputElement).value.trim())} /></label>
    </div>
  );
}

function Row({ task }: { task: TaskDescription }) {
  const took = secondsBetween(task.startedAt ?? task.createdAt, task.completedAt);
  return (
    <tr data-testid="task-row" data-task={task.id} data-status={task.status}>
      <td><a href={`#/task/${task.id}`} class="mono">{task.id}</a></td>
      <td>{task.service}</td>
      <td><StatusBadge status={task.status} />{task.error ? <span class="muted"> {task.error.code}</span> : null}</td>
      <td class="wide"><ProgressBar task={task} /></td>
      <td class="muted">{when(task.createdAt)}</td>
      <td class="muted">{took !== undefined ? duration(took) : ''}</td>
    </tr>
  );
}

export function TaskList({ query, navigate }: { query: URLSearchParams; navigate(hash: string): void }) {
  const { client, events, place } = useDashboard();
  const filter = filterFromQuery(query);
  const key = queryFromFilter(filter);
  const [tasks, setTasks] = useState<TaskDescription[] | null>(null);
  const [older, setOlder] = useState<{ tasks: TaskDescription[]; next?: string }>({ tasks: [] });
  const [next, setNext] = useState<string | undefined>();
  const [error, setError] = useState<string | null>(null);
  const [services, setServices] = useState<ServiceSummary[]>([]);

  useEffect(() => {
    client.services().then(setServices, () => {});
  }, [client]);

  useEffect(() => {
    let pending: Parameters<typeof applyToList>[1] = [];
    let loaded = false;
    setTasks(null);
    setOlder({ tasks: [] });
    setError(null);
    // Live first (events that come while the page is read wait in `pending`), then the page.
    // Every type but what scripts print: the list shows none of it, and it is the bulk of a busy log.
    const types = EVENT_TYPES.filter((type) => type !== 'console');
    let failed = false;
    const unsubscribe = events.subscribe({ types, ...(filter.service ? { services: [filter.service] } : {}) }, (batch) => {
      if (failed) return;
      if (!loaded) {
        pending = pending.concat(batch);
        return;
      }
      setTasks((list) => applyToList(list ?? [], batch, filter, place.base, PAGE_SIZE));
      setOlder((page) => ({ ...page, tasks: applyToList(page.tasks, batch.filter((e) => e.type !== 'queued'), { ...filter, status: undefined }, place.base, Number.MAX_SAFE_INTEGER) }));
    });
    client.listPage({ ...filter, limit: PAGE_SIZE }).then((page) => {
      loaded = true;
      setTasks(applyToList(page.tasks, pending, filter, place.base, PAGE_SIZE));
      setNext(page.next);
      pending = [];
    }, (err: unknown) => {
      failed = true;
      pending = [];
      setError(errorText(err));
    });
    return unsubscribe;
  }, [key, client, events]);

  const loadOlder = async () => {
    const cursor = older.next ?? next;
    if (!cursor) return;
    try {
      const page = await client.listPage({ ...filter, limit: PAGE_SIZE }, cursor);
      setOlder((o) => ({ tasks: [...o.tasks, ...page.tasks.filter((t) => !o.tasks.some((x) => x.id === t.id))], ...(page.next ? { next: page.next } : {}) }));
      if (!page.next) setNext(undefined);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const shown = tasks ?? [];
  const olderShown = older.tasks.filter((t) => !shown.some((s) => s.id === t.id));
  return (
    <section>
      <h1>Tasks</h1>
      <Filters filter={filter} services={services} onChange={(f) => navigate(`#/tasks${queryFromFilter(f)}`)} />
      {error ? <p class="error" role="alert">{error}</p> : null}
      {tasks === null && !error ? <p class="muted">Loading…</p> : null}
      {tasks !== null && shown.length === 0 ? <p class="muted" data-testid="no-tasks">No tasks{key ? ' match these filters' : ' yet'}.</p> : null}
      {shown.length > 0 ? (
        <div class="table-scroll">
          <table class="tasks" data-testid="task-list">
            <thead><tr><th>Task</th><th>Service</th><th>Status</th><th class="wide">Progress</th><th>Created</th><th>Took</th></tr></thead>
            <tbody>
              {shown.map((task) => <Row key={task.id} task={task} />)}
              {olderShown.map((task) => <Row key={task.id} task={task} />)}
            </tbody>
          </table>
        </div>
      ) : null}
      {(older.next ?? (older.tasks.length === 0 ? next : undefined)) ? <button type="button" onClick={loadOlder}>Older tasks</button> : null}
    </section>
  );
}

/**
 * Services with their workers, slots, queue and expected wait, and (for operators) the workers with
 * their liveness and load. A service's figures are read again when its tasks' events arrive (at
 * most every 2 s), never on a timer.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { isErrandApiError } from '../../client/index.ts';
import type { ServiceStats, ServiceSummary, WorkerView } from '../../client/index.ts';
import { useDashboard } from '../context.ts';
import { duration, errorText, when } from '../format.ts';

const REFRESH_MS = 2000;

function ServiceCard({ service, stats }: { service: ServiceSummary; stats?: ServiceStats | null }) {
  const failure = stats?.failureRate?.['15m'];
  return (
    <article class="card" data-testid="service" data-service={service.name}>
      <header>
        <h2><a href={`#/submit/${encodeURIComponent(service.name)}`}>{service.name}</a> <span class="muted">{service.version}</span></h2>
        <span class={`status ${service.online ? 'status-done' : 'status-expired'}`}>{service.online ? 'online' : 'offline'}</span>
      </header>
      {service.description ? <p>{service.description}</p> : null}
      <dl class="figures">
        <div><dt>runtime</dt><dd>{service.runtime ?? '—'}</dd></div>
        <div><dt>workers</dt><dd>{service.workers ?? '—'}</dd></div>
        <div><dt>slots busy</dt><dd data-testid="busy">{service.capacity !== undefined ? `${service.busy ?? 0} / ${service.capacity}` : '—'}</dd></div>
        <div><dt>queued</dt><dd data-testid="queued">{stats ? stats.tasks.queued : '—'}</dd></div>
        <div><dt>running</dt><dd>{stats ? stats.tasks.running : '—'}</dd></div>
        <div><dt>expected wait</dt><dd>{stats && typeof stats.estimatedWaitSeconds === 'number' ? duration(stats.estimatedWaitSeconds) : '—'}</dd></div>
        <div><dt>failed (15 min)</dt><dd data-testid="failure-rate">{typeof failure === 'number' ? `${Math.round(failure * 100)}%` : '—'}</dd></div>
      </dl>
      <a href={`#/tasks?service=${encodeURIComponent(service.name)}`}>its tasks</a> · <a href={`#/submit/${encodeURIComponent(service.name)}`}>submit</a>
    </article>
  );
}

function Workers({ workers }: { workers: WorkerView[] }) {
  const now = Date.now();
  return (
    <div class="table-scroll">
      <table data-testid="workers">
        <thead><tr><th>Worker</th><th>Host</th><th>Heard</th><th>Load</th><th>Done</th><th>Services</th></tr></thead>
        <tbody>
          {workers.map((w, i) => {
            const age = (now - Date.parse(w.lastSeen)) / 1000;
            return (
              <tr key={w.id ?? i}>
                <td class="mono">{w.id ?? '—'}</td>
                <td>{w.host ?? '—'}</td>
                <td><span class={`dot ${age < 15 ? 'alive' : 'stale'}`} /> {duration(age)} ago</td>
                <td>{w.running} / {w.slots}</td>
                <td>{w.done ?? '—'}</td>
                <td>{w.services.map((s) => `${s.name} ${s.running}/${s.slots}`).join(', ')}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function Services() {
  const { client, events } = useDashboard();
  const [services, setServices] = useState<ServiceSummary[] | null>(null);
  const [stats, setStats] = useState<Record<string, ServiceStats | null>>({});
  const [workers, setWorkers] = useState<WorkerView[] | null | 'forbidden'>(null);
  const [error, setError] = useState<string | null>(null);
  const lastRead = useRef(new Map<string, number>());
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  const readStats = (name: string) => {
    lastRead.current.set(name, Date.now());
    client.serviceStats(name).then((s) => setStats((old) => ({ ...old, [name]: s })), () => setStats((old) => ({ ...old, [name]: null })));
  };
  const readAll = () => {
    client.services().then((list) => {
      setServices(list);
      list.forEach((s) => readStats(s.name));
    }, (err: unknown) => setError(errorText(err)));
    client.workers().then(setWorkers, (err: unknown) => setWorkers(isErrandApiError(err) && (err.status === 403 || err.status === 401) ? 'forbidden' : null));
  };

  useEffect(() => {
    readAll();
    const unsubscribe = events.subscribe({ types: ['queued', 'started', 'done', 'failed', 'canceled', 'expired'] }, (batch) => {
      for (const name of new Set(batch.map((e) => e.service))) {
        if (timers.current.has(name)) continue;
        const wait = Math.max(0, REFRESH_MS - (Date.now() - (lastRead.current.get(name) ?? 0)));
        timers.current.set(name, setTimeout(() => {
          timers.current.delete(name);
          readStats(name);
          client.services().then(setServices, () => {});
          client.workers().then(setWorkers, () => {});
        }, wait));
      }
    });
    return () => {
      unsubscribe();
      timers.current.forEach(clearTimeout);
      timers.current.clear();
    };
  }, [client, events]);

  return (
    <section>
      <h1>Services</h1>
      {error ? <p class="error" role="alert">{error}</p> : null}
      {services === null && !error ? <p class="muted">Loading…</p> : null}
      <div class="cards">{(services ?? []).map((s) => <ServiceCard key={s.name} service={s} stats={stats[s.name]} />)}</div>
      <h1>Workers</h1>
      {workers === 'forbidden' ? <p class="muted">Workers are shown to operators (read:all or admin).</p> : workers === null ? <p class="muted">…</p> : workers.length === 0 ? <p class="muted">No worker heard from lately.</p> : <Workers workers={workers} />}
      <p class="muted">As of {when(new Date().toISOString())}.</p>
    </section>
  );
}

/**
 * What happens to tasks, as the parts that see it report it (issue 14): events written (and the
 * attempts and retries among them), the lag from an event's commit to its delivery to watchers,
 * results recorded, tasks of lost workers, and result-cache lookups. Each report is a counter
 * increment or one histogram observation on a label set looked up once: nothing on the hot path
 * allocates or waits.
 */
import type { EventPublisher } from '../broker/index.ts';
import { EventTypes } from '../core/index.ts';
import type { EventType, TaskEvent, TaskStatus } from '../core/index.ts';
import type { Counter } from 'prom-client';
import type { Metrics } from './metrics.ts';

/** Seconds from an event's time to its delivery: a broadcast takes milliseconds, a read from the database after a lost one up to the hub's poll (1 s), an outage longer. */
export const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Child = ReturnType<Counter<string>['labels']>;

/**
 * One child per label set, found once. Keyed by the label values, never the raw service name: a
 * name past the cap is `_other` and shares its child, so the cache is as bounded as the labels.
 */
function children<L extends string>(counter: Counter<L>): (labels: Record<L, string>, key: string) => Child {
  const found = new Map<string, Child>();
  return (labels, key) => {
    let child = found.get(key);
    if (!child) found.set(key, (child = counter.labels(labels as Partial<Record<L, string>>)));
    return child;
  };
}

function perService(metrics: Metrics, counter: Counter<'service'>): (service: string) => Child {
  const child = children(counter);
  return (service) => {
    const label = metrics.service(service);
    return child({ service: label }, label);
  };
}

/** Counts the events a writer commits; the process's event pipeline calls it (instrumentPublisher). */
export function eventCounts(metrics: Metrics): (events: readonly TaskEvent[]) => void {
  const written = metrics.counter<'type'>('errand_events_written_total', 'Task events committed by this process, by type.', ['type']);
  const byType = new Map<EventType, Child>(EventTypes.map((type) => [type, written.labels({ type })]));
  const attempt = perService(metrics, metrics.counter<'service'>('errand_task_attempts_total', 'Attempts started (a task\'s `started` events, resumed runs left out), by service.', ['service']));
  const retry = perService(metrics, metrics.counter<'service'>('errand_task_retries_total', 'Attempts after the first (`retried` events: the task\'s worker was lost, or its message came back), by service.', ['service']));
  return (events) => {
    for (const event of events) {
      byType.get(event.type)?.inc();
      if (event.type === 'started' && (event.data as { resumed?: unknown } | null)?.resumed !== true) attempt(event.service).inc();
      else if (event.type === 'retried') retry(event.service).inc();
    }
  };
}

/** The process's event pipeline, counting what it is handed. */
export function instrumentPublisher(publisher: EventPublisher, metrics: Metrics): EventPublisher {
  const count = eventCounts(metrics);
  return {
    written(events) {
      count(events);
      publisher.written(events);
    },
    onAnnounce: (listener) => publisher.onAnnounce(listener),
    origin: publisher.origin,
    flush: () => publisher.flush(),
    close: () => publisher.close(),
  };
}

/** The event hub's report of each event it hands to watchers: how long after the event's time. */
export function eventLag(metrics: Metrics): (event: TaskEvent) => void {
  const lag = metrics.histogram('errand_event_delivery_lag_seconds', 'From an event\'s time (taken in the transaction that commits it) to the server handing it to its watchers. Includes any clock difference between PostgreSQL and this host.', [], LAG_BUCKETS);
  return (event) => lag.observe(Math.max(0, Date.now() - event.at.getTime()) / 1000);
}

/** What the recorder reports: each result that ended its task. */
export function resultCounts(metrics: Metrics): { recorded(service: string, status: TaskStatus): void } {
  const child = children(metrics.counter<'service' | 'status'>('errand_results_recorded_total', 'Results recorded that ended their task, by service and status (done or failed). Repeats of a result already recorded are not counted.', ['service', 'status']));
  return {
    recorded(service, status) {
      const label = metrics.service(service);
      child({ service: label, status }, `${status} ${label}`).inc();
    },
  };
}

/** What the janitor reports: each running task whose worker was lost, queued again or failed `worker_lost`. */
export function lostWorkerCounts(metrics: Metrics): { workerLost(service: string, outcome: 'requeued' | 'failed'): void } {
  const counter = metrics.counter<'service' | 'outcome'>('errand_lost_worker_tasks_total', 'Running tasks whose worker was lost: queued again (requeued) or, attempts used up, failed worker_lost (failed).', ['service', 'outcome']);
  return { workerLost: (service, outcome) => counter.inc({ service: metrics.service(service), outcome }) };
}

export type CacheOutcome = 'hit' | 'joined' | 'miss' | 'bypass';

/** What the server reports of each submission to a service that caches. */
export function cacheCounts(metrics: Metrics): (service: string, outcome: CacheOutcome) => void {
  const child = children(metrics.counter<'service' | 'outcome'>('errand_cache_lookups_total', 'Submissions to services that cache, by outcome: hit (a finished result answered), joined (a task under way answered), miss (a new task), bypass (the client asked for a fresh run).', ['service', 'outcome']));
  return (service, outcome) => {
    const label = metrics.service(service);
    child({ service: label, outcome }, `${outcome} ${label}`).inc();
  };
}

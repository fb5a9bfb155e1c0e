/**
 * The capacity figures of every service as gauges (issue 14): what GET /services/:name/stats
 * answers, read when Prometheus scrapes, and the registry's workers. One refresh serves every
 * family of a scrape (prom-client collects them together) and the scrapes that follow within
 * `maxAgeMs`, so several Prometheus servers or a dashboard reloading cost one read. A refresh
 * reads at most `concurrency` services at once; a service whose read fails is left out of that
 * refresh and counted in errand_service_stats_errors_total, and the others are served.
 */
import type { Metrics, Sample } from './metrics.ts';
import { OTHER_SERVICES } from './metrics.ts';

/** p50, p90, p99 and the mean, in seconds (the stats' waitSeconds and runSeconds). */
export interface Spread { p50: number; p90: number; p99: number; mean: number }

/** What the exporter reads of one service's figures: a part of the stats answer (src/server/service-stats.ts). */
export interface ServiceFigures {
  online: boolean;
  queue: { messages: number; consumers: number } | null;
  tasks: { queued: number; running: number; oldestQueuedSeconds: number | null };
  workers: { online: number; slots: number };
  /** Tasks per second by window name (1m, 5m, 15m). */
  arrivalsPerSecond: Record<string, number>;
  completionsPerSecond: Record<string, number>;
  waitSeconds: Spread | null;
  runSeconds: Spread | null;
  sample: { tasks: number };
  model: { utilization: number | null } | null;
  estimatedWaitSeconds: number | null;
  targetWaitSeconds: number;
  slotsNeeded: number | null;
}

export interface ServiceFigureSource {
  /** The services to report (the registry's, announced or remembered). */
  names(): readonly string[];
  /** One service's figures; undefined when it is no longer known. May throw. */
  figures(name: string): Promise<ServiceFigures | undefined>;
  /** The workers heard from now, each flagged when a service's version differs from the others'. */
  workers(): ReadonlyArray<{ flagged: boolean }>;
}

export interface ServiceMetricsOptions {
  /** Services read at once during a refresh (--metrics-stats-concurrency). */
  concurrency: number;
  /** A refresh this recent answers the scrape (--metrics-stats-max-age, ms). */
  maxAgeMs: number;
  /** Told of each service whose read failed (the server logs it). */
  onError?: (service: string, err: unknown) => void;
  now?: () => number;
}

/** --metrics-stats-concurrency and --metrics-stats-max-age. */
export const SERVICE_METRICS_DEFAULTS = { concurrency: 4, maxAgeMs: 1000 } as const;

/** The quantiles of the wait and run gauges, as Prometheus's summaries name them. */
const QUANTILES = [['0.5', 'p50'], ['0.9', 'p90'], ['0.99', 'p99']] as const;

interface Snapshot {
  at: number;
  services: Array<{ label: string; figures: ServiceFigures }>;
  /** Services left out: their names came past --metrics-max-services. */
  omitted: number;
  seconds: number;
}

/** Runs `each` over `items`, at most `limit` at a time. */
async function bounded<T>(items: readonly T[], limit: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await each(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

export function serviceMetrics(metrics: Metrics, source: ServiceFigureSource, options: ServiceMetricsOptions): void {
  const now = options.now ?? Date.now;
  const errors = new Map<string, number>();
  let last: Snapshot | undefined;
  let running: Promise<Snapshot> | undefined;

  async function refresh(): Promise<Snapshot> {
    const started = now();
    const services: Snapshot['services'] = [];
    let omitted = 0;
    const wanted: Array<{ name: string; label: string }> = [];
    for (const name of source.names()) {
      const label = metrics.service(name);
      // A gauge cannot add up services under _other (a quantile of several is no quantile): left out, counted.
      if (label === OTHER_SERVICES && name !== OTHER_SERVICES) omitted++;
      else wanted.push({ name, label });
    }
    await bounded(wanted, Math.max(1, options.concurrency), async ({ name, label }) => {
      try {
        const figures = await source.figures(name);
        if (figures) services.push({ label, figures });
      } catch (err) {
        errors.set(label, (errors.get(label) ?? 0) + 1);
        options.onError?.(name, err);
      }
    });
    services.sort((a, b) => a.label.localeCompare(b.label));
    return { at: started, services, omitted, seconds: Math.max(0, now() - started) / 1000 };
  }

  function snapshot(): Promise<Snapshot> {
    const t = now();
    if (last && t - last.at <= options.maxAgeMs && t >= last.at) return Promise.resolve(last);
    // Every family of one scrape asks at once: they share one refresh.
    running ??= refresh().then((s) => { last = s; return s; }).finally(() => { running = undefined; });
    return running;
  }

  type Label = 'service' | 'window' | 'quantile';
  const perService = (name: string, help: string, value: (f: ServiceFigures) => number | null | undefined): void =>
    metrics.readAtScrape<Label>({ name, help, labelNames: ['service'] }, async () => {
      const samples: Array<Sample<Label>> = [];
      for (const { label, figures } of (await snapshot()).services) {
        const v = value(figures);
        if (v !== null && v !== undefined && Number.isFinite(v)) samples.push({ labels: { service: label }, value: v });
      }
      return samples;
    });
  const perWindow = (name: string, help: string, rates: (f: ServiceFigures) => Record<string, number>): void =>
    metrics.readAtScrape<Label>({ name, help, labelNames: ['service', 'window'] }, async () =>
      (await snapshot()).services.flatMap(({ label, figures }) =>
        Object.entries(rates(figures)).map(([window, value]) => ({ labels: { service: label, window }, value }))));
  const perQuantile = (name: string, help: string, spread: (f: ServiceFigures) => Spread | null): void =>
    metrics.readAtScrape<Label>({ name, help, labelNames: ['service', 'quantile'] }, async () =>
      (await snapshot()).services.flatMap(({ label, figures }) => {
        const s = spread(figures);
        return s ? QUANTILES.map(([quantile, key]) => ({ labels: { service: label, quantile }, value: s[key] })) : [];
      }));

  perService('errand_service_queue_depth', 'Tasks of the service queued now (in the database: waiting for a slot, deliveries a worker holds for a free slot included).', (f) => f.tasks.queued);
  perService('errand_service_queue_messages', 'Messages ready in the service\'s RabbitMQ queue; absent when the queue does not exist.', (f) => f.queue?.messages);
  perService('errand_service_consumers', 'Consumers of the service\'s queue (0 when the queue does not exist).', (f) => f.queue?.consumers ?? 0);
  perService('errand_service_tasks_running', 'Tasks of the service running now.', (f) => f.tasks.running);
  perService('errand_service_online', '1 while a worker announces the service (or, for workers that do not announce, its queue has a consumer); 0 while it is remembered offline.', (f) => (f.online ? 1 : 0));
  perService('errand_service_workers', 'Workers running the service now.', (f) => f.workers.online);
  perService('errand_service_worker_slots', 'Tasks the service\'s workers run at once, together (c of the queueing model).', (f) => f.workers.slots);
  perWindow('errand_service_arrivals_per_second', 'Tasks of the service created over the window (1m, 5m, 15m), per second.', (f) => f.arrivalsPerSecond);
  perWindow('errand_service_completions_per_second', 'Tasks of the service that ran and ended (done or failed) over the window, per second.', (f) => f.completionsPerSecond);
  perQuantile('errand_service_wait_seconds', 'Wait from creation to start, over the latest tasks that ran (--stats-sample within --stats-sample-age); absent without any.', (f) => f.waitSeconds);
  perQuantile('errand_service_run_seconds', 'Run time from start to end, over the same sample; absent without any.', (f) => f.runSeconds);
  perService('errand_service_wait_mean_seconds', 'Mean wait over the sample.', (f) => f.waitSeconds?.mean);
  perService('errand_service_run_mean_seconds', 'Mean run time over the sample (1/mu of the queueing model).', (f) => f.runSeconds?.mean);
  perService('errand_service_sampled_tasks', 'Tasks in the wait and run time sample.', (f) => f.sample.tasks);
  perService('errand_service_oldest_queued_age_seconds', 'Age of the service\'s oldest queued task; 0 when none is queued.', (f) => f.tasks.oldestQueuedSeconds ?? 0);
  perService('errand_service_estimated_wait_seconds', 'How long a task submitted now would wait for a slot; absent when it cannot be told (no slot at all, no run time known).', (f) => f.estimatedWaitSeconds);
  perService('errand_service_target_wait_seconds', 'The wait errand_service_slots_needed is computed for (--stats-target-wait).', (f) => f.targetWaitSeconds);
  perService('errand_service_slots_needed', 'Fewest slots that keep the expected wait (M/M/c, Erlang C) within the target wait; absent without a run time sample.', (f) => f.slotsNeeded);
  perService('errand_service_utilization_ratio', 'Arrivals over what the slots complete, lambda/(c mu), over the model\'s window (5m); 1 and above, the queue grows. Absent without slots or a sample.', (f) => f.model?.utilization);

  metrics.readAtScrape({ name: 'errand_service_stats_errors_total', help: 'Reads of a service\'s figures that failed (its database or queue could not be read); the service is left out of that scrape.', labelNames: ['service'], type: 'counter' }, async () => {
    await snapshot();
    return [...errors].map(([service, value]) => ({ labels: { service }, value }));
  });
  metrics.readAtScrape({ name: 'errand_service_stats_omitted', help: 'Services left out of the errand_service_* gauges: their names came past --metrics-max-services.', labelNames: [] }, async () =>
    [{ labels: {}, value: (await snapshot()).omitted }]);
  metrics.readAtScrape({ name: 'errand_service_stats_refresh_seconds', help: 'How long the latest read of every service\'s figures took.', labelNames: [] }, async () =>
    [{ labels: {}, value: (await snapshot()).seconds }]);
  // The registry is in memory: read at each scrape, no refresh needed.
  metrics.readAtScrape({ name: 'errand_workers', help: 'Workers this server hears from now (GET /workers).', labelNames: [] }, () =>
    [{ labels: {}, value: source.workers().length }]);
  metrics.readAtScrape({ name: 'errand_workers_flagged', help: 'Workers running a service at another version than the other workers running it (flagged in GET /workers).', labelNames: [] }, () =>
    [{ labels: {}, value: source.workers().filter((w) => w.flagged).length }]);
}

/**
 * The process's Prometheus registry (issue 14): one per process, whatever roles it runs (`errand
 * dev` runs them all in one). The only module that builds metric families; the others get them
 * from here by name, so a family two parts share (events written, in the server and in the
 * recorder) is made once. The only files that import prom-client are in src/monitor.
 *
 * Labels are bounded: a service name is kept as a label for the first `maxServices` names seen,
 * later ones are counted under `_other` (the registry bounds the names a server admits; a
 * recorder or a worker has no registry, and a hostile or mistaken worker could invent names).
 * No label ever holds a task id, a URL or a principal.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How often the event loop's lag is sampled (prom-client's nodejs_eventloop_lag_* figures). */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** The label value that stands for every service name past the cap. */
export const OTHER_SERVICES = '_other';

export interface MetricsOptions {
  /** The command this process runs (serve, worker, recorder, dev): the `role` of errand_info. */
  role: string;
  /** Errand's version, for errand_info. */
  version: string;
  /** Distinct service names kept as label values; later ones are counted under `_other` (--metrics-max-services). */
  maxServices: number;
  /** Node's own figures (CPU, memory, event loop lag, GC, handles): the CLI roles turn them on. */
  processMetrics?: boolean;
}

/** A value a figure read at scrape time reports: its labels and its number. */
export interface Sample<L extends string> { labels: Partial<Record<L, string>>; value: number }

export interface Metrics {
  readonly registry: Registry;
  /** The service label for `name`: itself, or `_other` past the cap. */
  service(name: string): string;
  /** The family of this name, made on first use (the same help and labels every time). */
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L>;
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L>;
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L>;
  /**
   * The hook for figures kept elsewhere and read when Prometheus scrapes: a gauge (or, with
   * `type: 'counter'`, a counter) whose samples `read` returns. The per-service capacity figures
   * (errand_service_queue_depth, errand_service_consumers, ...) come in through it. A `read`
   * that throws leaves the family empty for that scrape; the others are still served.
   */
  readAtScrape<L extends string>(family: { name: string; help: string; labelNames: readonly L[]; type?: 'gauge' | 'counter' }, read: () => Iterable<Sample<L>> | Promise<Iterable<Sample<L>>>): void;
  /** Everything, in Prometheus's text format. */
  text(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  // The event loop's lag is sampled every 100 ms rather than prom-client's 10: a timer every 10 ms
  // wakes an idle process 100 times a second, which on a virtual machine cost a recorder at rest
  // 16 ms of CPU a second and put a timer in the way of one task in ten (docs/benchmarks.md).
  if (options.processMetrics) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const services = new Set<string>();
  const service = (name: string): string => {
    if (services.has(name)) return name;
    if (services.size >= options.maxServices) return OTHER_SERVICES;
    services.add(name);
    return name;
  };
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;

  const metrics: Metrics = {
    registry,
    service,
    counter: (name, help, labelNames) => existing(name) ?? new Counter({ name, help, labelNames, registers: [registry] }),
    gauge: (name, help, labelNames) => existing(name) ?? new Gauge({ name, help, labelNames, registers: [registry] }),
    histogram: (name, help, labelNames, buckets) => existing(name) ?? new Histogram({ name, help, labelNames, buckets, registers: [registry] }),
    readAtScrape(family, read) {
      if (existing(family.name)) throw new Error(`metric ${family.name} is already registered`);
      const config = { name: family.name, help: family.help, labelNames: family.labelNames, registers: [registry] };
      // Each scrape starts from nothing: a label set no longer reported (a service gone) disappears.
      async function collect(this: Gauge<string> | Counter<string>): Promise<void> {
        this.reset();
        // prom-client gives a family without labels a value of 0 on reset: nothing read is nothing shown.
        if (family.labelNames.length === 0) this.remove();
        let samples: Iterable<Sample<string>>;
        try {
          samples = await read();
        } catch {
          return;
        }
        for (const { labels, value } of samples) {
          if (this instanceof Gauge) this.set(labels, value);
          else this.inc(labels, Math.max(0, value));
        }
      }
      if (family.type === 'counter') new Counter({ ...config, collect });
      else new Gauge({ ...config, collect });
    },
    async text() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
  metrics.gauge('errand_info', 'Always 1: the role this process runs and Errand\'s version.', ['role', 'version']).set({ role: options.role, version: options.version }, 1);
  return metrics;
}

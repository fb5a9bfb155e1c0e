/**
 * The readiness checks as gauges (issue 14): errand_ready, errand_postgres_up and
 * errand_rabbitmq_up, 0 or 1, read by running the checks when Prometheus scrapes (checks that
 * overlap share one run). A role without a database reports no errand_postgres_up.
 */
import type { Metrics } from './metrics.ts';
import type { CheckName, Readiness } from './readiness.ts';

export function readinessMetrics(metrics: Metrics, readiness: Readiness): void {
  const gauge = (name: string, help: string, value: (report: Awaited<ReturnType<Readiness['check']>>) => number | undefined): void =>
    metrics.readAtScrape({ name, help, labelNames: [] }, async () => {
      const v = value(await readiness.check());
      return v === undefined ? [] : [{ labels: {}, value: v }];
    });
  const up = (check: CheckName) => (report: Awaited<ReturnType<Readiness['check']>>): number | undefined => {
    const result = report.checks[check];
    return result === undefined ? undefined : result.ok ? 1 : 0;
  };
  gauge('errand_ready', '1 when GET /ready answers 200: started, not stopping, and every check of this role passes.', (report) => (report.ready ? 1 : 0));
  gauge('errand_postgres_up', '1 when PostgreSQL answered this process\'s last readiness check.', up('postgres'));
  gauge('errand_rabbitmq_up', '1 while this process is connected to RabbitMQ (and not blocked by a resource alarm).', up('rabbitmq'));
}

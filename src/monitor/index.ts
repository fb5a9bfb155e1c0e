/**
 * What an operator watches (issue 14): Prometheus metrics, readiness and the small listener that
 * serves them for roles without an HTTP server. Roles wire it in src/cli; the parts report
 * through plain callbacks they declare themselves, so none of them imports prom-client.
 */
export { createMetrics, OTHER_SERVICES } from './metrics.ts';
export type { Metrics, MetricsOptions, Sample } from './metrics.ts';
export { HTTP_BUCKETS, instrumentHttp } from './http-metrics.ts';
export type { OpenStreams } from './http-metrics.ts';
export { cacheCounts, eventCounts, eventLag, instrumentPublisher, LAG_BUCKETS, lostWorkerCounts, resultCounts } from './task-metrics.ts';
export type { CacheOutcome } from './task-metrics.ts';
export { executorMetrics } from './executor-metrics.ts';
export { SERVICE_METRICS_DEFAULTS, serviceMetrics } from './service-metrics.ts';
export type { ServiceFigures, ServiceFigureSource, ServiceMetricsOptions, Spread } from './service-metrics.ts';
export type { PoolCounts, PooledService } from './executor-metrics.ts';
export { CHECKS, createReadiness, HEALTH_BODY, readyAnswer } from './readiness.ts';
export type { CheckName, CheckResult, Lifecycle, Readiness, ReadinessReport } from './readiness.ts';
export { readinessMetrics } from './state-metrics.ts';
export { startMonitorListener } from './listener.ts';
export type { MonitorListener, MonitorListenerOptions } from './listener.ts';

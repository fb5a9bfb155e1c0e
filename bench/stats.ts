/**
 * The bench's arithmetic, pure: percentiles of samples, and the median and spread of runs.
 * Medians of an even count take the upper middle, as the bench always has (so a figure quoted is
 * one that was measured).
 */

export interface Latency { p50: number; p95: number; p99: number }

/** What one run of one system measured: the same fields for Errand and every peer. */
export interface RunResult extends Latency {
  tasksPerSecond: number;
  submitPerSecond: number;
  /** CPU seconds per 1000 tasks during the throughput run, by process (as each system names them). */
  cpu: Record<string, number>;
}

export interface Spread { median: number; min: number; max: number }

export function percentiles(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

export function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** Each measure of a system over its runs: median, min and max. */
export interface SystemSummary {
  name: string;
  runs: number;
  tasksPerSecond: Spread;
  submitPerSecond: Spread;
  p50: Spread;
  p95: Spread;
  p99: Spread;
  /** Median CPU seconds per 1000 tasks by process, and their sum ("total": the sum of the medians). */
  cpu: Record<string, number>;
}

export function summarise(name: string, runs: RunResult[]): SystemSummary {
  const of = (k: 'tasksPerSecond' | 'submitPerSecond' | 'p50' | 'p95' | 'p99') => spread(runs.map((r) => r[k]));
  const parts = [...new Set(runs.flatMap((r) => Object.keys(r.cpu)))];
  const cpu: Record<string, number> = {};
  for (const part of parts) cpu[part] = median(runs.map((r) => r.cpu[part] ?? 0));
  cpu.total = parts.reduce((sum, part) => sum + cpu[part]!, 0);
  return {
    name, runs: runs.length,
    tasksPerSecond: of('tasksPerSecond'), submitPerSecond: of('submitPerSecond'),
    p50: of('p50'), p95: of('p95'), p99: of('p99'), cpu,
  };
}

/**
 * One system against a reference, from the medians: throughput as subject/reference (above 1:
 * the subject is faster), each latency percentile as subject/reference (above 1: the subject is
 * slower), and the CPU per task as subject/reference.
 */
export interface Ratio { subject: string; reference: string; throughput: number; p50: number; p95: number; p99: number; cpu: number }

export function ratio(subject: SystemSummary, reference: SystemSummary): Ratio {
  return {
    subject: subject.name, reference: reference.name,
    throughput: subject.tasksPerSecond.median / reference.tasksPerSecond.median,
    p50: subject.p50.median / reference.p50.median,
    p95: subject.p95.median / reference.p95.median,
    p99: subject.p99.median / reference.p99.median,
    cpu: subject.cpu.total! / reference.cpu.total!,
  };
}

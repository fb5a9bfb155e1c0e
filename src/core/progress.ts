/**
 * What progress means. Scripts report any value (Patavi passes it through untouched); a number,
 * or an object with a numeric `progress`, between 0 and 100 is also read as percent, and from
 * percent and the time the task has run an estimate of the time remaining follows.
 */

/** The percent a progress value states, or undefined when it states none. */
export function readPercent(value: unknown): number | undefined {
  const candidate = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { progress?: unknown }).progress : value;
  return typeof candidate === 'number' && Number.isFinite(candidate) && candidate >= 0 && candidate <= 100 ? candidate : undefined;
}

/**
 * Seconds left at the rate observed since the task started, or undefined when there is no rate
 * yet (nothing done, or no time passed).
 */
export function estimateRemainingSeconds(percent: number, elapsedSeconds: number): number | undefined {
  if (percent >= 100) return 0;
  if (percent <= 0 || elapsedSeconds <= 0) return undefined;
  return round1((elapsedSeconds * (100 - percent)) / percent);
}

export interface QueueSnapshot {
  /** Tasks of the service queued before this one. */
  queuedAhead: number;
  /** Tasks of the service running now. */
  running: number;
  /** Tasks of the service the connected workers run at once. */
  capacity: number;
  /** Mean run time of the service's recent tasks, when there are some. */
  meanDurationSeconds: number | undefined;
}

/**
 * Seconds until a queued task should start: the tasks that must finish before a slot frees for
 * it, at the rate the workers finish tasks. Undefined when no worker serves the service or
 * there is no recent duration to go by.
 */
export function estimateStartSeconds(queue: QueueSnapshot): number | undefined {
  if (queue.capacity <= 0) return undefined;
  const mustFinish = queue.running + queue.queuedAhead - queue.capacity + 1;
  if (mustFinish <= 0) return 0;
  if (queue.meanDurationSeconds === undefined) return undefined;
  return round1((mustFinish * queue.meanDurationSeconds) / queue.capacity);
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

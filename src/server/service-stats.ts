/**
 * The capacity figures of one service, as `GET /services/:name/stats` answers them and as a
 * metrics exporter can read them: the broker's queue, the registry's slots, the database's
 * recent activity (one bounded query), and the queueing model of core/capacity.ts over them.
 */
import type { Broker, QueueStats } from '../broker/index.ts';
import { capacityFigures, ErrandError, isErrandError } from '../core/index.ts';
import type { CapacityModel, WaitBasis } from '../core/index.ts';
import { errorNature } from '../store/index.ts';
import type { DurationSpread, ServiceActivity } from '../store/index.ts';
import type { ServiceRegistry } from './registry.ts';

/** The windows rates are given over, by name. */
export const STATS_WINDOWS = { '1m': 60, '5m': 300, '15m': 900 } as const;
export type StatsWindow = keyof typeof STATS_WINDOWS;
const WINDOW_NAMES = Object.keys(STATS_WINDOWS) as StatsWindow[];
export const DEFAULT_MODEL_WINDOW: StatsWindow = '5m';

/** What the operator set (--stats-sample, --stats-sample-age, --stats-target-wait). */
export interface StatsSettings {
  /** Wait and run times: the latest this many tasks that ran and ended... */
  sampleSize: number;
  /** ...no longer ago than this (ISO 8601 and seconds). */
  sampleAge: string;
  sampleAgeSeconds: number;
  /** The wait the slots needed are computed for when a request names none. */
  targetWait: string;
  targetWaitSeconds: number;
}

export const DEFAULT_STATS_SETTINGS: StatsSettings = {
  sampleSize: 1000, sampleAge: 'P1D', sampleAgeSeconds: 86_400, targetWait: 'PT1M', targetWaitSeconds: 60,
};

export interface ServiceStatsDeps {
  store: ServiceActivity;
  broker: Pick<Broker, 'queueStats'>;
  registry: Pick<ServiceRegistry, 'service'>;
}

export interface StatsRequest {
  /** The window whose rates feed the model (default 5m). */
  window?: StatsWindow;
  /** The target wait, as given and in seconds (default: the settings'). */
  targetWait?: { text: string; seconds: number };
}

type PerWindow = Record<StatsWindow, number>;

export interface ServiceStats {
  service: string;
  /** The database's clock when the figures were read: the windows end here. */
  at: string;
  /** False: served by workers that do not announce (Patavi's); their consumers count as one slot each. */
  announced: boolean;
  online: boolean;
  queue: QueueStats | null;
  tasks: { queued: number; running: number; oldestQueuedSeconds: number | null };
  workers: { online: number; slots: number };
  arrivalsPerSecond: PerWindow;
  completionsPerSecond: PerWindow;
  /** Share of the tasks that ran and ended in each window that failed; null when none ended. */
  failureRate: Record<StatsWindow, number | null>;
  waitSeconds: DurationSpread | null;
  runSeconds: DurationSpread | null;
  sample: { tasks: number; limit: number; maxAge: string; from: string | null; to: string | null };
  model: (CapacityModel & {
    window: StatsWindow; arrivalRate: number; completionRate: number; meanRunSeconds: number; slots: number;
  }) | null;
  estimatedWaitSeconds: number | null;
  estimate: WaitBasis;
  targetWait: string;
  targetWaitSeconds: number;
  slotsNeeded: number | null;
  note?: string;
}

const perWindow = (counts: number[]): PerWindow =>
  Object.fromEntries(WINDOW_NAMES.map((name, i) => [name, (counts[i] ?? 0) / STATS_WINDOWS[name]])) as PerWindow;

/** The figures of service `name`; undefined when no such service is known (announced, remembered, or consumed). */
export async function computeServiceStats(deps: ServiceStatsDeps, name: string, request: StatsRequest = {}, settings: StatsSettings = DEFAULT_STATS_SETTINGS): Promise<ServiceStats | undefined> {
  const window = request.window ?? DEFAULT_MODEL_WINDOW;
  const target = request.targetWait ?? { text: settings.targetWait, seconds: settings.targetWaitSeconds };
  const registered = deps.registry.service(name);
  const [queue, activity] = await Promise.all([
    deps.broker.queueStats(name).catch((err: Error) => {
      throw new ErrandError('broker_unavailable', `cannot read the ${name} queue: ${err.message}`, undefined, { cause: err });
    }),
    // Asked even for a name that turns out unknown: one round trip instead of two for known ones.
    deps.store.serviceActivity(name, { windows: WINDOW_NAMES.map((w) => STATS_WINDOWS[w]), sampleSize: settings.sampleSize, sampleSeconds: settings.sampleAgeSeconds })
      .catch((err: unknown) => {
        if (errorNature(err) !== 'unavailable' || isErrandError(err)) throw err;
        throw new ErrandError('database_unavailable', `cannot read the ${name} tasks: ${(err as Error).message}`, undefined, { cause: err });
      }),
  ]);
  // As GET /services/:name: a service no worker announces is known while its queue has a consumer.
  if (!registered && !(queue && queue.consumers > 0)) return undefined;
  const slots = registered ? registered.workers.reduce((sum, w) => sum + w.concurrency, 0) : queue!.consumers;

  const at = activity.at.getTime();
  const arrivalsPerSecond = perWindow(activity.arrivals);
  const completionsPerSecond = perWindow(activity.completions);
  const arrivalRate = arrivalsPerSecond[window];
  const completionRate = completionsPerSecond[window];
  const meanRunSeconds = activity.sample.run?.mean;
  const figures = capacityFigures({
    arrivalRate, meanRunSeconds, slots, queued: activity.queued, running: activity.running, completionRate, targetWaitSeconds: target.seconds,
  });
  return {
    service: name,
    at: activity.at.toISOString(),
    announced: registered !== undefined,
    online: registered ? registered.online : true,
    queue: queue ? { messages: queue.messages, consumers: queue.consumers } : null,
    tasks: {
      queued: activity.queued,
      running: activity.running,
      oldestQueuedSeconds: activity.oldestQueuedAt ? Math.max(0, (at - activity.oldestQueuedAt.getTime()) / 1000) : null,
    },
    workers: { online: registered ? registered.workers.length : queue!.consumers, slots },
    arrivalsPerSecond,
    completionsPerSecond,
    failureRate: Object.fromEntries(WINDOW_NAMES.map((name, i) => {
      const ended = activity.completions[i] ?? 0;
      return [name, ended > 0 ? (activity.failures[i] ?? 0) / ended : null];
    })) as Record<StatsWindow, number | null>,
    waitSeconds: activity.sample.wait,
    runSeconds: activity.sample.run,
    sample: {
      tasks: activity.sample.tasks, limit: settings.sampleSize, maxAge: settings.sampleAge,
      from: activity.sample.from?.toISOString() ?? null, to: activity.sample.to?.toISOString() ?? null,
    },
    model: figures.model && meanRunSeconds !== undefined
      ? { window, arrivalRate, completionRate, meanRunSeconds, slots, ...figures.model }
      : null,
    estimatedWaitSeconds: figures.estimatedWaitSeconds,
    estimate: figures.estimate,
    targetWait: target.text,
    targetWaitSeconds: target.seconds,
    slotsNeeded: figures.slotsNeeded,
    ...(figures.note ? { note: figures.note } : {}),
  };
}

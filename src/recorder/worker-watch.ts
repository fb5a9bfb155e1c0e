/**
 * The janitor's ears on the registry channel: which workers are alive. It asks every worker to
 * announce when it starts (`discover`), notes each announcement and goodbye, and checks that it
 * hears at all by echoing a probe to itself each round: silence while it was cut off is not held
 * against the workers (core/liveness.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, Subscription } from '../broker/index.ts';
import { DEFAULT_LIVENESS, isWorkerLost, parseRegistryMessage } from '../core/index.ts';
import type { LivenessRules, WorkerSighting } from '../core/index.ts';

export interface WorkerWatch {
  /** Sends this round's probe; call once per check, before asking about workers. */
  probe(): Promise<void>;
  /** False while the watcher cannot show that it hears the channel: no worker may be judged then. */
  listening(): boolean;
  isLost(workerId: string | null): boolean;
  close(): Promise<void>;
}

export interface WorkerWatchOptions {
  broker: Broker;
  logger: Logger;
  rules?: Partial<LivenessRules>;
  /** A probe not heard back within this long means the watcher is deaf (default 15 s). */
  deafAfterMs?: number;
  now?: () => number;
}

/** Sightings are forgotten this long after a worker was last heard (a forgotten worker stays lost). */
const FORGET_AFTER_MS = 60 * 60_000;

export async function startWorkerWatch(options: WorkerWatchOptions): Promise<WorkerWatch> {
  const { broker } = options;
  const now = options.now ?? Date.now;
  const rules: LivenessRules = { ...DEFAULT_LIVENESS, ...options.rules };
  const deafAfterMs = options.deafAfterMs ?? 15_000;
  const log = options.logger.child({ part: 'worker-watch' });
  const me = randomBytes(6).toString('hex');
  const sightings = new Map<string, WorkerSighting>();
  let listeningSince: number | undefined;
  let probeHeardAt = now();

  const subscription: Subscription = await broker.listen('services', (body) => {
    const message = parseRegistryMessage(body);
    const t = now();
    if (message?.kind === 'announce') {
      sightings.set(message.worker.id, { lastSeen: t, intervalMs: message.worker.intervalMs });
    } else if (message?.kind === 'goodbye') {
      const known = sightings.get(message.worker.id);
      sightings.set(message.worker.id, { lastSeen: known?.lastSeen ?? t, intervalMs: known?.intervalMs ?? 0, leftAt: t });
    } else if (message?.kind === 'probe' && message.from === me) {
      probeHeardAt = t;
      if (listeningSince === undefined) {
        listeningSince = t;
        log.info('hearing the registry channel; judging workers from now');
      }
    }
  });
  const sendProbe = (): Promise<void> => broker.broadcast('services', Buffer.from(JSON.stringify({ kind: 'probe', from: me })));
  // Live workers answer at once, so the grace for workers never heard from is rarely needed.
  await broker.broadcast('services', Buffer.from(JSON.stringify({ kind: 'discover' })));
  await sendProbe();

  return {
    async probe() {
      const t = now();
      if (listeningSince !== undefined && t - probeHeardAt > deafAfterMs) {
        listeningSince = undefined;
        log.warn('the registry channel went quiet, even this janitor\'s own probes; no worker is judged lost until it is heard again');
      }
      for (const [id, sighting] of sightings) if (t - (sighting.leftAt ?? sighting.lastSeen) > FORGET_AFTER_MS) sightings.delete(id);
      await sendProbe();
    },
    listening: () => listeningSince !== undefined,
    isLost(workerId) {
      if (listeningSince === undefined) return false;
      return isWorkerLost(workerId === null ? undefined : sightings.get(workerId), listeningSince, now(), rules);
    },
    close: () => subscription.close(),
  };
}

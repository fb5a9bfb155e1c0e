/**
 * The janitor's ears on the registry channel: which workers are alive. It asks every worker to
 * announce when it starts (`discover`), notes each announcement and goodbye, and checks that it
 * hears at all by echoing a probe to itself each round: a round whose probe did not come back
 * makes it deaf until one does, and silence from before that is not held against the workers
 * (core/liveness.ts). A worker never heard from gets its grace from when it was first asked about.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, Subscription } from '../broker/index.ts';
import { DEFAULT_LIVENESS, isWorkerLost, parseRegistryMessage } from '../core/index.ts';
import type { LivenessRules, WorkerSighting } from '../core/index.ts';

export interface WorkerWatch {
  /** Checks that last round's probe came back, then sends this round's; call once per check, before asking about workers. */
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
  now?: () => number;
}

/** Sightings are forgotten this long after a worker was last heard (a forgotten worker stays lost). */
const FORGET_AFTER_MS = 60 * 60_000;

export async function startWorkerWatch(options: WorkerWatchOptions): Promise<WorkerWatch> {
  const { broker } = options;
  const now = options.now ?? Date.now;
  const rules: LivenessRules = { ...DEFAULT_LIVENESS, ...options.rules };
  const log = options.logger.child({ part: 'worker-watch' });
  const me = randomBytes(6).toString('hex');
  const sightings = new Map<string, WorkerSighting>();
  /** Workers asked about before ever being heard: their grace runs from the first question. */
  const unheardSince = new Map<string, number>();
  let listeningSince: number | undefined;
  let probeSentAt: number | undefined;
  let probeHeardAt = 0;

  const broadcast = (message: object): Promise<void> => broker.broadcast('services', Buffer.from(JSON.stringify(message)));
  const deaf = (why: string): void => {
    if (listeningSince !== undefined) log.warn(`${why}; no worker is judged lost until this janitor hears the channel again`);
    listeningSince = undefined;
  };

  const subscription: Subscription = await broker.listen('services', (body) => {
    const message = parseRegistryMessage(body);
    const t = now();
    if (message?.kind === 'announce') {
      sightings.set(message.worker.id, { lastSeen: t, intervalMs: message.worker.intervalMs });
      unheardSince.delete(message.worker.id);
    } else if (message?.kind === 'goodbye') {
      const known = sightings.get(message.worker.id);
      sightings.set(message.worker.id, { lastSeen: known?.lastSeen ?? t, intervalMs: known?.intervalMs ?? 0, leftAt: t });
    } else if (message?.kind === 'probe' && message.from === me) {
      probeHeardAt = t;
      if (listeningSince === undefined) {
        listeningSince = t;
        log.info('hearing the registry channel; judging workers from now');
        // Workers announce at once, so those alive are known again before any is judged.
        broadcast({ kind: 'discover' }).catch(() => undefined);
      }
    }
  });
  const sendProbe = async (): Promise<void> => {
    probeSentAt = now();
    await broadcast({ kind: 'probe', from: me });
  };
  try {
    await broadcast({ kind: 'discover' });
    await sendProbe();
  } catch (err) {
    await subscription.close();
    throw err;
  }

  return {
    async probe() {
      const t = now();
      // Last round's probe has not come back: whatever was (not) heard since proves nothing.
      if (probeSentAt !== undefined && probeHeardAt < probeSentAt) deaf('this janitor\'s own probe did not come back');
      for (const [id, sighting] of sightings) if (t - (sighting.leftAt ?? sighting.lastSeen) > FORGET_AFTER_MS) sightings.delete(id);
      for (const [id, since] of unheardSince) if (t - since > FORGET_AFTER_MS) unheardSince.delete(id);
      try {
        await sendProbe();
      } catch (err) {
        deaf('could not send a probe');
        throw err;
      }
    },
    listening: () => listeningSince !== undefined,
    isLost(workerId) {
      if (listeningSince === undefined) return false;
      const t = now();
      const sighting = workerId === null ? undefined : sightings.get(workerId);
      if (sighting || workerId === null) return isWorkerLost(sighting, listeningSince, t, rules);
      if (!unheardSince.has(workerId)) unheardSince.set(workerId, t);
      return isWorkerLost(undefined, Math.max(listeningSince, unheardSince.get(workerId)!), t, rules);
    },
    close: () => subscription.close(),
  };
}

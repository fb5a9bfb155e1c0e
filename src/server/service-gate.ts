/**
 * Decides whether a submission's service exists and whether anyone consumes it, without a broker
 * round trip per request: one lookup per service per second, shared by concurrent requests. A
 * service exists when its queue does (a worker declared it); Patavi's behaviour, queueing for
 * any name, is an option.
 */
import type { Broker, QueueStats } from '../broker/index.ts';
import { ErrandError } from '../core/index.ts';

export interface ServiceGate {
  /** Throws unknown_service when the service has no queue (and unknown services are refused). */
  admit(service: string): Promise<{ consumers: number }>;
}

export function createServiceGate(broker: Broker, options: { allowUnknownServices: boolean; cacheMs?: number }): ServiceGate {
  const cacheMs = options.cacheMs ?? 1000;
  const cache = new Map<string, { at: number; lookup: Promise<QueueStats | undefined> }>();

  async function lookup(service: string): Promise<QueueStats | undefined> {
    const stats = await broker.queueStats(service);
    if (stats || !options.allowUnknownServices) return stats;
    await broker.declareQueue(service);
    return { messages: 0, consumers: 0 };
  }

  return {
    async admit(service) {
      let entry = cache.get(service);
      if (!entry || Date.now() - entry.at >= cacheMs) {
        entry = { at: Date.now(), lookup: lookup(service) };
        cache.set(service, entry);
      }
      const forget = (): void => { if (cache.get(service) === entry) cache.delete(service); };
      let found: QueueStats | undefined;
      try {
        found = await entry.lookup;
      } catch (err) {
        forget();
        throw new ErrandError('broker_unavailable', `cannot reach the broker to queue the task: ${(err as Error).message}`, undefined, { cause: err });
      }
      if (!found) {
        forget(); // a worker may declare it any moment: ask again next time
        throw new ErrandError('unknown_service', `no service named ${JSON.stringify(service)}: no worker has declared its queue`, 'service');
      }
      return found;
    },
  };
}

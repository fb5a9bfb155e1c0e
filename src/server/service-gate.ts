/**
 * Decides whether a submission's service exists and whether anyone consumes it, without a broker
 * round trip per request: queue stats are cached briefly per service. A service exists when its
 * queue does (a worker declared it); Patavi's behaviour, queueing for any name, is an option.
 */
import type { Broker } from '../broker/index.ts';
import { ErrandError } from '../core/index.ts';

export interface ServiceGate {
  /** Throws unknown_service when the service has no queue (and unknown services are refused). */
  admit(service: string): Promise<{ consumers: number }>;
}

export function createServiceGate(broker: Broker, options: { allowUnknownServices: boolean; cacheMs?: number }): ServiceGate {
  const cacheMs = options.cacheMs ?? 1000;
  const cache = new Map<string, { consumers: number; at: number; pending?: Promise<{ consumers: number } | undefined> }>();

  async function lookup(service: string): Promise<{ consumers: number } | undefined> {
    const stats = await broker.queueStats(service);
    if (stats) return stats;
    if (!options.allowUnknownServices) return undefined;
    await broker.declareQueue(service);
    return { consumers: 0 };
  }

  return {
    async admit(service) {
      const now = Date.now();
      const hit = cache.get(service);
      if (hit && !hit.pending && now - hit.at < cacheMs) return hit;
      // Concurrent requests for one service share a single lookup.
      const pending = hit?.pending ?? lookup(service).catch((err: unknown) => {
        throw new ErrandError('broker_unavailable', `cannot reach the broker to queue the task: ${(err as Error).message}`, undefined, { cause: err });
      });
      cache.set(service, { consumers: hit?.consumers ?? 0, at: hit?.at ?? 0, pending });
      try {
        const found = await pending;
        if (!found) {
          cache.delete(service);
          throw new ErrandError('unknown_service', `no service named ${JSON.stringify(service)}: no worker has declared its queue`, 'service');
        }
        cache.set(service, { consumers: found.consumers, at: Date.now() });
        return found;
      } catch (err) {
        if (cache.get(service)?.pending === pending) cache.delete(service);
        throw err;
      }
    },
  };
}

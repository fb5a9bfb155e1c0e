/**
 * Decides whether a submission's service is known, checks its input against the service's schema,
 * and tells whether anyone consumes it, without a broker round trip per request (queue figures
 * are looked up once per service per second, shared by concurrent requests). A figure a little
 * older than that is used while a fresh one is fetched in the background, so that no submission
 * waits on the broker for it; one much older (STALE_LIMIT) is waited for.
 *
 * Known means: a worker announced it (or did recently: see registry.ts), or its queue has a
 * consumer that does not announce (a Patavi worker). Patavi's behaviour, queueing for any name,
 * is an option.
 */
import type { Broker, QueueStats } from '../broker/index.ts';
import { createInputValidator, ErrandError } from '../core/index.ts';
import type { ServiceRegistry, RegisteredService } from './registry.ts';

export interface Admission { consumers: number; service: RegisteredService | undefined }

export interface ServiceGate {
  /** Throws unknown_service (unless unknown services are allowed) or broker_unavailable. */
  admit(service: string): Promise<Admission>;
  /** Throws invalid_input, naming the field, when the input breaks the service's schema. */
  checkInput(service: RegisteredService | undefined, inputJson: string): void;
}

export interface GateOptions {
  allowUnknownServices: boolean;
  cacheMs?: number;
  /** How long a queue once seen with a consumer stays known after its consumers left. */
  retainMs?: number;
  now?: () => number;
}

/** Figures older than this many cacheMs are not served while they are refreshed: the caller waits for fresh ones. */
const STALE_LIMIT = 5;

/** One lookup of a queue's figures, and its answer once it came. */
interface Lookup { at: number; lookup: Promise<QueueStats | undefined>; answer?: { stats: QueueStats | undefined }; refreshing?: boolean }

export function createServiceGate(broker: Broker, registry: ServiceRegistry, options: GateOptions): ServiceGate {
  const cacheMs = options.cacheMs ?? 1000;
  const retainMs = options.retainMs ?? 60 * 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, Lookup>();
  // Services served by workers that do not announce (Patavi's), when last seen consumed.
  const consumedAt = new Map<string, number>();

  async function lookup(service: string, declare: boolean): Promise<QueueStats | undefined> {
    const stats = await broker.queueStats(service);
    if (stats || !declare) return stats;
    // Known but without a queue (the in-process broker restarted, say): make one so nothing is dropped.
    await broker.declareQueue(service);
    return { messages: 0, consumers: 0 };
  }

  function start(name: string, declare: boolean): Lookup {
    const entry: Lookup = { at: now(), lookup: lookup(name, declare) };
    entry.lookup.then((stats) => { entry.answer = { stats }; }, () => undefined);
    return entry;
  }

  /** Replaces `stale` with a fresh lookup once that one answers; a failed one leaves the next caller to wait for its own. */
  function refresh(name: string, declare: boolean, stale: Lookup): void {
    if (stale.refreshing) return;
    stale.refreshing = true;
    const fresh = start(name, declare);
    fresh.lookup.then(
      () => { if (cache.get(name) === stale) cache.set(name, fresh); },
      () => { if (cache.get(name) === stale) cache.delete(name); },
    );
  }

  return {
    async admit(name) {
      const registered = registry.service(name);
      const declare = registered !== undefined || options.allowUnknownServices;
      let entry = cache.get(name);
      const age = entry ? now() - entry.at : Infinity;
      if (entry?.answer && age >= cacheMs && age < cacheMs * STALE_LIMIT) {
        refresh(name, declare, entry);
      } else if (!entry || age >= cacheMs) {
        entry = start(name, declare);
        cache.set(name, entry);
      }
      const forget = (): void => { if (cache.get(name) === entry) cache.delete(name); };
      let stats: QueueStats | undefined;
      try {
        stats = await entry.lookup;
      } catch (err) {
        forget();
        throw new ErrandError('broker_unavailable', `cannot reach the broker to queue the task: ${(err as Error).message}`, undefined, { cause: err });
      }
      if (!stats && declare) {
        forget();
        stats = await lookup(name, true);
      }
      if (stats && stats.consumers > 0) consumedAt.set(name, now());
      const consumedRecently = now() - (consumedAt.get(name) ?? -Infinity) <= retainMs;
      if (registered || options.allowUnknownServices || consumedRecently) {
        return { consumers: stats?.consumers ?? 0, service: registered };
      }
      forget(); // a worker may announce it any moment: ask again next time
      throw new ErrandError(
        'unknown_service',
        `no worker runs a service named ${JSON.stringify(name)} (GET /services lists those that do)`,
        'service',
      );
    },

    checkInput(service, inputJson) {
      const schema = service?.definition.inputSchema;
      if (!schema) return;
      const validator = createInputValidator(schema);
      if ('problem' in validator) return; // a worker's broken schema is its own problem, not the client's
      const problem = validator.validate(JSON.parse(inputJson));
      if (problem) throw new ErrandError('invalid_input', `input does not match the ${service!.definition.name} service's schema: ${problem.message}`, problem.field);
    },
  };
}

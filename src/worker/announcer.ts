/**
 * Tells servers which services this worker runs: an announcement at start, again every interval
 * while alive (so a server can tell a dead worker from a quiet one), at once when a server asks
 * (`discover`), and a goodbye when the worker stops.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Broker, Subscription } from '../broker/index.ts';
import { announcedService, parseRegistryMessage } from '../core/index.ts';
import type { RegistryMessage } from '../core/index.ts';
import type { ServiceDefinition } from './executor.ts';

export interface AnnouncerOptions {
  broker: Broker;
  workerId: string;
  services: ServiceDefinition[];
  /** Tasks running now, per service. */
  busy(service: string): number;
  /** Tasks finished since the worker started, per service. */
  done(service: string): number;
  /** The Errand version this worker runs (package.json's), told to operators (GET /workers). */
  errandVersion?: string;
  intervalMs: number;
  logger: Logger;
}

export interface Announcer { close(): Promise<void> }

export async function startAnnouncer(options: AnnouncerOptions): Promise<Announcer> {
  const { broker, logger } = options;
  const startedAt = new Date().toISOString();
  const send = (message: RegistryMessage): Promise<void> => broker.broadcast('services', Buffer.from(JSON.stringify(message)));
  const announce = (): void => {
    send({
      kind: 'announce',
      worker: { id: options.workerId, host: hostname(), pid: process.pid, startedAt, intervalMs: options.intervalMs, errandVersion: options.errandVersion ?? null },
      services: options.services.map((s) => announcedService(s.manifest, s.concurrency, options.busy(s.name), s.docs, options.done(s.name))),
    }).catch((err: Error) => logger.debug({ err: err.message }, 'could not announce services; will retry'));
  };

  const subscription: Subscription = await broker.listen('services', (body) => {
    if (parseRegistryMessage(body)?.kind === 'discover') announce();
  });
  announce();
  const timer = setInterval(announce, options.intervalMs);
  timer.unref();

  return {
    async close() {
      clearInterval(timer);
      await subscription.close();
      await send({ kind: 'goodbye', worker: { id: options.workerId } }).catch(() => undefined);
    },
  };
}

/**
 * The server's view of the service registry: it listens to the workers' announcements, forgets a
 * worker silent for three of its intervals, and keeps a service whose workers all left known (as
 * offline) for a while, so that a rolling restart of workers does not turn submissions away.
 */
import type { Logger } from 'pino';
import type { Broker, Subscription } from '../broker/index.ts';
import { parseRegistryMessage, serviceViews, workerViews } from '../core/index.ts';
import type { ServiceView, WorkerEntry, WorkerView } from '../core/index.ts';

export interface RegisteredService extends ServiceView { online: boolean }

export interface ServiceRegistry {
  /** Every service announced now, and the offline ones still remembered, by name. */
  services(): RegisteredService[];
  service(name: string): RegisteredService | undefined;
  /** Every worker heard from within three of its intervals, by id (GET /workers). */
  workers(): WorkerView[];
  close(): Promise<void>;
}

export interface RegistryOptions {
  broker: Broker;
  logger: Logger;
  /** How long an offline service stays known after its last worker went. */
  retainOfflineMs?: number;
  /** How long start waits for the first answer to its discover request. */
  discoverWaitMs?: number;
  now?: () => number;
}

const MISSED_INTERVALS = 3;
export const VIEW_TTL_MS = 200;

export async function startServiceRegistry(options: RegistryOptions): Promise<ServiceRegistry> {
  const { broker } = options;
  const now = options.now ?? Date.now;
  const retainOfflineMs = options.retainOfflineMs ?? 60 * 60_000;
  const log = options.logger.child({ part: 'registry' });
  const workers = new Map<string, WorkerEntry>();
  const offline = new Map<string, ServiceView>();
  let heard: () => void = () => undefined;
  const firstAnswer = new Promise<void>((resolve) => { heard = resolve; });

  function remember(entry: WorkerEntry): void {
    for (const view of serviceViews([entry])) offline.set(view.definition.name, view);
  }

  function dropSilentWorkers(): void {
    const t = now();
    for (const [id, entry] of workers) {
      if (t - entry.lastSeen > MISSED_INTERVALS * entry.info.intervalMs) {
        workers.delete(id);
        remember(entry);
        log.warn({ worker: id }, 'worker stopped announcing; forgotten');
      }
    }
  }

  // The merged view is computed again after any announcement, and otherwise at most every
  // VIEW_TTL_MS (workers falling silent and offline services ageing out are seen that late):
  // every submission asks for its service.
  let view: { at: number; list: RegisteredService[]; byName: Map<string, RegisteredService> } | undefined;
  const subscription: Subscription = await broker.listen('services', (body) => {
    view = undefined;
    const message = parseRegistryMessage(body);
    if (!message) {
      log.debug('unreadable registry message; ignored');
      return;
    }
    if (message.kind === 'announce') {
      if (!workers.has(message.worker.id)) log.info({ worker: message.worker.id, services: message.services.map((s) => s.name) }, 'worker announced');
      workers.set(message.worker.id, { info: message.worker, services: message.services, lastSeen: now() });
      heard();
    } else if (message.kind === 'goodbye') {
      const entry = workers.get(message.worker.id);
      if (entry) {
        workers.delete(message.worker.id);
        remember(entry);
        log.info({ worker: message.worker.id }, 'worker left');
      }
    }
  });
  await broker.broadcast('services', Buffer.from(JSON.stringify({ kind: 'discover' })));
  // Workers answer a discover at once; waiting briefly means the first submissions are checked.
  const waited = setTimeout(() => heard(), options.discoverWaitMs ?? 250);
  await firstAnswer;
  clearTimeout(waited);

  function services(): RegisteredService[] {
    dropSilentWorkers();
    const online = serviceViews(workers.values()).map((view) => ({ ...view, online: true }));
    const names = new Set(online.map((view) => view.definition.name));
    const t = now();
    const remembered: RegisteredService[] = [];
    for (const [name, view] of offline) {
      if (names.has(name)) continue;
      if (t - view.lastSeen > retainOfflineMs) offline.delete(name);
      else remembered.push({ ...view, workers: [], online: false });
    }
    return [...online, ...remembered].sort((a, b) => a.definition.name.localeCompare(b.definition.name));
  }

  function current(): NonNullable<typeof view> {
    const t = now();
    if (!view || t - view.at >= VIEW_TTL_MS || t < view.at) {
      const list = services();
      view = { at: t, list, byName: new Map(list.map((s) => [s.definition.name, s])) };
    }
    return view;
  }

  return {
    services: () => current().list,
    service: (name) => current().byName.get(name),
    workers() {
      dropSilentWorkers();
      return workerViews(workers.values());
    },
    close: () => subscription.close(),
  };
}

/**
 * The workers as an operator sees them (GET /workers): each with its services, slots and load,
 * and a flag on a worker that runs a service at another version than the others running it (a
 * worker left behind by a rolling upgrade, or one started from the wrong folder). Pure.
 */
import type { WorkerEntry } from './registry.ts';

export interface WorkerServiceView {
  name: string;
  version: string;
  /** Tasks the worker runs at once for the service, how many it ran at its last announcement, and how many it finished. */
  slots: number;
  running: number;
  done: number | null;
  /** The version is not the one most workers of the service run (none prevails on a tie: all differ). */
  versionDiffers: boolean;
  /** When it differs: the other workers' versions of the service, with how many run each. */
  otherVersions?: Record<string, number>;
}

export interface WorkerView {
  id: string;
  host: string;
  pid: number;
  errandVersion: string | null;
  startedAt: string;
  /** When the registry last heard the worker (ms since the epoch). */
  lastSeen: number;
  intervalMs: number;
  slots: number;
  running: number;
  /** Tasks finished over all its services; null when the worker does not count them (before issue 14). */
  done: number | null;
  services: WorkerServiceView[];
  /** Some service's version differs from the other workers'. */
  flagged: boolean;
}

/** How many workers run each version of each service. */
function versionCounts(workers: WorkerEntry[]): Map<string, Map<string, number>> {
  const byService = new Map<string, Map<string, number>>();
  for (const worker of workers) {
    // A worker counts once per version of a service, whatever it announced twice.
    const seen = new Set<string>();
    for (const service of worker.services) {
      const key = `${service.name}\u0000${service.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const versions = byService.get(service.name) ?? new Map<string, number>();
      byService.set(service.name, versions);
      versions.set(service.version, (versions.get(service.version) ?? 0) + 1);
    }
  }
  return byService;
}

/** The version most workers run; undefined on a tie (none prevails) or when there is one version only. */
function prevailing(versions: Map<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = 0;
  let tie = false;
  for (const [version, count] of versions) {
    if (count > bestCount) { best = version; bestCount = count; tie = false; } else if (count === bestCount) tie = true;
  }
  return tie ? undefined : best;
}

/** Every worker the registry knows now, by id, with its services' versions compared with the other workers'. */
export function workerViews(workers: Iterable<WorkerEntry>): WorkerView[] {
  const list = [...workers];
  const counts = versionCounts(list);
  return list.map((worker): WorkerView => {
    const services = worker.services.map((service): WorkerServiceView => {
      const versions = counts.get(service.name)!;
      const differs = versions.size > 1 && prevailing(versions) !== service.version;
      const view: WorkerServiceView = {
        name: service.name, version: service.version, slots: service.concurrency, running: service.busy, done: service.done, versionDiffers: differs,
      };
      if (differs) {
        const others: Record<string, number> = {};
        for (const [version, count] of versions) if (version !== service.version) others[version] = count;
        view.otherVersions = others;
      }
      return view;
    }).sort((a, b) => a.name.localeCompare(b.name));
    const done = services.some((s) => s.done === null) ? null : services.reduce((sum, s) => sum + (s.done ?? 0), 0);
    return {
      id: worker.info.id,
      host: worker.info.host,
      pid: worker.info.pid,
      errandVersion: worker.info.errandVersion,
      startedAt: worker.info.startedAt,
      lastSeen: worker.lastSeen,
      intervalMs: worker.info.intervalMs,
      slots: services.reduce((sum, s) => sum + s.slots, 0),
      running: services.reduce((sum, s) => sum + s.running, 0),
      done,
      services,
      flagged: services.some((s) => s.versionDiffers),
    };
  }).sort((a, b) => a.id.localeCompare(b.id));
}

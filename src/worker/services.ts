/**
 * Service folders: each subfolder of a services directory holding a `service.json` manifest is
 * one service. A broken manifest is reported with its file and field; the others still load.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { serviceNameProblem } from '../core/index.ts';
import type { ServiceDefinition } from './executor.ts';
import { createNodeExecutor, loadNodeService } from './executors/node.ts';

export interface ManifestProblem { file: string; field?: string; message: string }

export interface LoadedServices { services: ServiceDefinition[]; problems: ManifestProblem[] }

interface Manifest { name: string; version: string; description: string; runtime: 'node'; entry: string; concurrency?: number }

const RUNTIMES = ['node'] as const;

function readManifest(raw: unknown, folderName: string, file: string): Manifest | ManifestProblem {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { file, message: 'manifest must be a JSON object' };
  const m = raw as Record<string, unknown>;
  const name = m.name ?? folderName;
  if (typeof name !== 'string') return { file, field: 'name', message: 'name must be a string' };
  const nameProblem = serviceNameProblem(name);
  if (nameProblem) return { file, field: 'name', message: nameProblem };
  const runtime = m.runtime ?? 'node';
  if (!RUNTIMES.includes(runtime as 'node')) {
    return { file, field: 'runtime', message: `runtime ${JSON.stringify(runtime)} is not supported; supported: ${RUNTIMES.join(', ')}` };
  }
  const entry = m.entry ?? 'index.ts';
  if (typeof entry !== 'string' || entry.includes('..')) return { file, field: 'entry', message: 'entry must be a file name inside the service folder' };
  const version = m.version ?? '0.0.0';
  if (typeof version !== 'string') return { file, field: 'version', message: 'version must be a string' };
  const description = m.description ?? '';
  if (typeof description !== 'string') return { file, field: 'description', message: 'description must be a string' };
  const concurrency = m.concurrency;
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || (concurrency as number) < 1)) {
    return { file, field: 'concurrency', message: 'concurrency must be a positive integer' };
  }
  return { name, version, description, runtime: 'node', entry, ...(concurrency !== undefined ? { concurrency: concurrency as number } : {}) };
}

export async function loadServiceDir(dir: string, defaultConcurrency: number): Promise<LoadedServices> {
  const services: ServiceDefinition[] = [];
  const problems: ManifestProblem[] = [];
  for (const folder of (await readdir(dir)).sort()) {
    const file = join(dir, folder, 'service.json');
    if (!(await stat(file).catch(() => undefined))?.isFile()) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      problems.push({ file, message: `not valid JSON: ${(err as Error).message}` });
      continue;
    }
    const manifest = readManifest(raw, folder, file);
    if ('message' in manifest) {
      problems.push(manifest);
      continue;
    }
    if (services.some((s) => s.name === manifest.name)) {
      problems.push({ file, field: 'name', message: `another service is already named ${JSON.stringify(manifest.name)}` });
      continue;
    }
    try {
      const run = await loadNodeService(join(dir, folder, manifest.entry));
      services.push({
        name: manifest.name,
        version: manifest.version,
        description: manifest.description,
        concurrency: manifest.concurrency ?? defaultConcurrency,
        executor: createNodeExecutor(run),
      });
    } catch (err) {
      problems.push({ file, field: 'entry', message: (err as Error).message });
    }
  }
  return { services, problems };
}

/**
 * Peers: other systems doing Errand's job, each a folder with a `bench.mjs` that takes `N C M K`
 * (tasks, clients, latency tasks, worker concurrency) and prints one JSON line (`tasks_per_s`,
 * `submit_per_s`, `p50_ms`, `p95_ms`, `p99_ms`, `cpu_s_per_1000`). The shared folder is read-only,
 * so each peer runs from a copy in the checkout (.bench-peers/, gitignored) where `npm ci` can
 * write; the copy is refreshed every invocation, its dependencies only when its lock file changed.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Load } from './errand.ts';
import type { RunResult } from './stats.ts';

const run = promisify(execFile);
export const CHECKOUT = fileURLToPath(new URL('../', import.meta.url));
const COPIES = join(CHECKOUT, '.bench-peers');
/** Where the copy remembers the lock file its node_modules were installed from. */
const INSTALLED_LOCK = '.installed-lock-sha256';

export interface Peer { name: string; folder: string }

/**
 * `../shared/bench-peers` beside the repository. In a linked worktree (git worktree add) the
 * repository is the main checkout, so every worktree finds the same peers.
 */
export async function defaultPeersFolder(): Promise<string> {
  const common = await run('git', ['-C', CHECKOUT, 'rev-parse', '--path-format=absolute', '--git-common-dir'])
    .then(({ stdout }) => dirname(stdout.trim()), () => CHECKOUT);
  return resolve(common, '../shared/bench-peers');
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Every subfolder with a bench.mjs, by name; none when the folder is missing. */
export async function findPeers(folder: string): Promise<Peer[]> {
  if (!(await exists(folder))) return [];
  const entries = await readdir(folder, { withFileTypes: true });
  const peers: Peer[] = [];
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    if (await exists(join(folder, entry.name, 'bench.mjs'))) peers.push({ name: entry.name, folder: join(folder, entry.name) });
  }
  return peers;
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path).catch(() => '')).digest('hex');

/** Copies the peer into .bench-peers/<name> (writable), and runs `npm ci` there when its dependencies are missing or its lock changed. Answers the copy's folder. */
export async function preparePeer(peer: Peer, log: (line: string) => void): Promise<string> {
  const copy = join(COPIES, peer.name);
  await cp(peer.folder, copy, { recursive: true, force: true, filter: (source) => !source.split('/').includes('node_modules') });
  await makeWritable(copy);
  const lock = await sha256(join(copy, 'package-lock.json'));
  const installed = await readFile(join(copy, INSTALLED_LOCK), 'utf8').catch(() => '');
  if (installed.trim() === lock && (await exists(join(copy, 'node_modules')))) return copy;
  log(`peer ${peer.name}: npm ci in ${copy}`);
  const started = performance.now();
  await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: copy, maxBuffer: 64 * 1024 * 1024 })
    .catch((error: { stderr?: string; message: string }) => { throw new Error(`npm ci failed for peer ${peer.name} in ${copy}:\n${error.stderr ?? error.message}`); });
  await writeFile(join(copy, INSTALLED_LOCK), lock);
  log(`peer ${peer.name}: dependencies installed in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return copy;
}

/** The shared folder's files are read-only; their copies must not be, or the next refresh could not overwrite them. */
async function makeWritable(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(folder, entry.name);
    await chmod(path, entry.isDirectory() ? 0o755 : 0o644);
    if (entry.isDirectory()) await makeWritable(path);
  }
}

interface PeerLine { tasks_per_s: number; submit_per_s: number; p50_ms: number; p95_ms: number; p99_ms: number; cpu_s_per_1000?: Record<string, number> }

/** One run of a prepared peer with the same load as Errand's: `node bench.mjs N C M K`, its JSON line read back. */
export function measurePeer(name: string, copy: string, load: Load): Promise<RunResult> {
  const args = [load.tasks, load.clients, load.latencyTasks, load.workerConcurrency].map(String);
  return new Promise((resolvePeer, reject) => {
    const child = spawn(process.execPath, ['bench.mjs', ...args], { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').map(parseLine).filter((x) => x !== undefined).at(-1);
      if (code !== 0 || !line) return reject(new Error(`peer ${name} (node bench.mjs ${args.join(' ')} in ${copy}) exited ${code} without its result line:\n${out}${err}`));
      resolvePeer({
        tasksPerSecond: line.tasks_per_s, submitPerSecond: line.submit_per_s,
        p50: line.p50_ms, p95: line.p95_ms, p99: line.p99_ms, cpu: line.cpu_s_per_1000 ?? {},
      });
    });
  });
}

function parseLine(text: string): PeerLine | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<PeerLine>;
    return typeof parsed.tasks_per_s === 'number' ? (parsed as PeerLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `npm start` (errand dev with the bundled examples) is light enough for a laptop: idle, its whole
 * process tree holds at most 400 MB resident, with one warm process per pooled service.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawnErrand } from '../support/processes.ts';
import { describeWithR } from '../support/r.ts';
import { eventually } from '../support/wait.ts';

const LIMIT_MB = 400;

interface Resident { pid: number; rssKb: number; command: string }

/** Every process descending from `root` (and root), with its resident memory, read from /proc. */
async function processTree(root: number): Promise<Resident[]> {
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // The command name, in parentheses, may hold spaces: the fields after it are fixed.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parents.set(Number(name), ppid);
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) if (p === root) return true;
    return false;
  };
  const tree: Resident[] = [];
  for (const pid of parents.keys()) {
    if (!inTree(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    if (!rss) continue; // gone meanwhile, or a zombie
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
    tree.push({ pid, rssKb: Number(rss[1]), command });
  }
  return tree;
}

const totalMb = (tree: Resident[]): number => tree.reduce((sum, p) => sum + p.rssKb, 0) / 1024;
const describeTree = (tree: Resident[]): string =>
  tree.map((p) => `${p.pid} ${(p.rssKb / 1024).toFixed(0)} MB ${p.command.slice(0, 120)}`).join('\n') + `\ntotal ${totalMb(tree).toFixed(0)} MB`;

let dataDir: string;
before(async () => { dataDir = await mkdtemp(join(tmpdir(), 'errand-dev-memory-')); });
after(() => rm(dataDir, { recursive: true, force: true }));

// The bundled examples include R services: measured with them all running, as a newcomer runs them.
void describeWithR('errand dev memory', () => {
  test(`idle, errand dev and everything it started hold at most ${LIMIT_MB} MB resident`, async (t) => {
    // As `npm start` runs it, on a new data folder (the first start, initdb included).
    const dev = spawnErrand(['dev', '--port', '0', '--data-dir', dataDir]);
    try {
      await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 120_000);
      assert.equal(dev.child.exitCode, null, dev.output());
      const root = dev.child.pid!;

      // One warm process per pooled service, whatever its concurrency (echo's is 8, slow's and regression's 2).
      const started = await processTree(root);
      const nodeServices = started.filter((p) => /executors\/node\/child\.[tj]s/.test(p.command));
      const rServices = started.filter((p) => /executors\/r\/runtime\.R/.test(p.command));
      assert.equal(nodeServices.length, 1, describeTree(started));
      assert.equal(rServices.length, 2, describeTree(started));

      // Idle, the runtimes give back what starting took (V8's memory reducer runs a few seconds
      // after the last allocation burst): what counts is where the tree settles.
      let last: Resident[] = started;
      await eventually(async () => {
        last = await processTree(root);
        return totalMb(last) <= LIMIT_MB;
      }, `the process tree to hold at most ${LIMIT_MB} MB`, 120_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${describeTree(last)}`);
      });
      for (const line of describeTree(last).split('\n')) t.diagnostic(line);
    } finally {
      await dev.stop();
    }
  });
});

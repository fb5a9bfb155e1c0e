/**
 * CPU time of processes, read from /proc (ticks of 1/100 s). A process's children that have exited
 * and been reaped count in its own stat (cutime, cstime), so a part's figure stays whole when
 * PostgreSQL backends or a service's child processes come and go during a run.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface Stat { ppid: number; own: number; reapedChildren: number }

async function readStat(pid: number): Promise<Stat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!text) return undefined;
  // After the command name (which may hold spaces, hence the last ')'): state, ppid, ..., utime, stime, cutime, cstime.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number);
  return { ppid: fields[1]!, own: (fields[11]! + fields[12]!) / 100, reapedChildren: (fields[13]! + fields[14]!) / 100 };
}

/** CPU seconds of these processes so far, their exited children's included when `withChildren` (one that has gone counts nothing). */
export async function cpuSeconds(pids: number[], withChildren = false): Promise<number> {
  let seconds = 0;
  for (const pid of pids) {
    const stat = await readStat(pid);
    if (stat) seconds += stat.own + (withChildren ? stat.reapedChildren : 0);
  }
  return seconds;
}

/** CPU seconds of everything a process started: its live descendants and every child it has reaped. */
export async function childrenSeconds(pid: number): Promise<number> {
  const stats = new Map<number, Stat>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (stat) stats.set(Number(entry), stat);
  }
  const descendants = new Set<number>([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, stat] of stats) {
      if (!descendants.has(child) && descendants.has(stat.ppid)) { descendants.add(child); grew = true; }
    }
  }
  let seconds = stats.get(pid)?.reapedChildren ?? 0;
  for (const child of descendants) if (child !== pid) seconds += stats.get(child)!.own + stats.get(child)!.reapedChildren;
  return seconds;
}

/** Every process of this exact name (all of PostgreSQL's backends, RabbitMQ's beam.smp). */
export async function pidsOf(name: string): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-x', name]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number);
}

export type CpuProbe = Record<string, () => Promise<number>>;

/** Reads every probe: seconds used so far by each part. */
export async function cpuSnapshot(probe: CpuProbe): Promise<Record<string, number>> {
  const snapshot: Record<string, number> = {};
  for (const [part, read] of Object.entries(probe)) snapshot[part] = await read();
  return snapshot;
}

/** CPU seconds per 1000 tasks, by part, between two snapshots. */
export function perThousand(before: Record<string, number>, after: Record<string, number>, tasks: number): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((part) => [part, ((after[part]! - (before[part] ?? 0)) * 1000) / tasks]));
}

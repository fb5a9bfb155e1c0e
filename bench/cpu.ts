/** CPU time of processes, read from /proc (user + system, in ticks of 1/100 s). */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** CPU seconds used so far by these processes (one that has gone counts nothing). */
export async function cpuSeconds(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / 100;
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

/** How the client commands print tasks, lists and services for people: plain functions to strings. */
import type { ServiceSummary, TaskDescription } from '../../client/index.ts';
import { printableLine, printableText } from './printable.ts';
import { shortDuration } from './progress-line.ts';

/** Seconds between two ISO times, or undefined when either is missing. */
export function secondsBetween(from?: string, to?: string): number | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...cells(rows)];
  const widths = header.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? '')].length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** What the server says, shown in a table or a list: one line, no control characters. */
function cells(rows: string[][]): string[][] {
  return rows.map((row) => row.map(printableLine));
}

const localTime = (iso?: string): string => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

export function taskRows(tasks: TaskDescription[]): string {
  return table(['ID', 'SERVICE', 'STATUS', 'CREATED', 'TOOK', 'ERROR'], tasks.map((task) => {
    const took = secondsBetween(task.startedAt ?? task.createdAt, task.completedAt);
    const progress = task.status === 'running' && task.progress?.percent !== undefined ? ` ${Math.round(task.progress.percent)}%` : '';
    return [task.id, task.service, `${task.status}${progress}`, localTime(task.createdAt), took !== undefined ? shortDuration(took) : '-', task.error?.code ?? ''];
  }));
}

/** One task, a field a line, as `errand task ID` prints it. */
export function taskDetails(task: TaskDescription): string {
  const lines: Array<[string, string | undefined]> = [
    ['id', task.id],
    ['service', task.service],
    ['status', task.status],
    ['owner', typeof task.owner === 'string' ? task.owner : undefined],
    ['created', task.createdAt],
    ['started', task.startedAt],
    ['completed', task.completedAt],
    ['expires', task.expiresAt],
    ['attempts', task.attempts !== undefined ? String(task.attempts) : undefined],
    ['progress', task.progress ? `${task.progress.percent !== undefined ? `${Math.round(task.progress.percent)}%` : JSON.stringify(task.progress.value)}${task.progress.etaSeconds !== undefined ? `, ${shortDuration(task.progress.etaSeconds)} left` : ''}` : undefined],
    ['queue', task.queue ? `${task.queue.ahead} ahead${task.queue.estimatedStartSeconds !== undefined ? `, starts in about ${shortDuration(task.queue.estimatedStartSeconds)}` : ''}` : undefined],
    ['error', task.error ? `${task.error.code}: ${task.error.message}` : undefined],
    ['results', task._links.results?.href],
    ['console', task._links.console?.href],
  ];
  const shown = lines.filter((line): line is [string, string] => line[1] !== undefined);
  const width = Math.max(...shown.map(([name]) => name.length));
  return shown.map(([name, value]) => `${`${name}:`.padEnd(width + 2)}${printableLine(value)}`).join('\n');
}

export function serviceRows(services: ServiceSummary[]): string {
  return table(['SERVICE', 'VERSION', 'RUNTIME', 'ONLINE', 'BUSY', 'DESCRIPTION'], services.map((s) => [
    s.name,
    s.version ?? '-',
    s.runtime ?? '-',
    s.online ? 'yes' : 'no',
    s.capacity !== undefined ? `${s.busy ?? 0}/${s.capacity}` : '-',
    (s.description ?? '').length > 60 ? `${(s.description ?? '').slice(0, 59)}…` : (s.description ?? ''),
  ]));
}

/** The error of an ended task, with an R traceback when the worker sent one. */
export function taskErrorText(task: TaskDescription): string {
  if (!task.error) return `task ${task.id} ${task.status}`;
  const lines = [`task ${task.id} ${task.status}: ${printableLine(task.error.code)}: ${printableText(task.error.message)}`];
  const detail = task.error.detail as { call?: unknown; traceback?: unknown } | undefined;
  if (detail && typeof detail.call === 'string') lines.push(`  in ${printableLine(detail.call)}`);
  if (detail && Array.isArray(detail.traceback)) for (const frame of detail.traceback) lines.push(`  ${printableLine(String(frame))}`);
  return lines.join('\n');
}

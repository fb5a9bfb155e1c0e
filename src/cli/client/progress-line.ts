/**
 * The one line `errand submit --follow` and `errand watch` redraw while a task runs: a bar, the
 * percent, the time left and the script's latest message, fitted to the terminal's width. Plain
 * functions of what the events said, so the layout is tested without a terminal.
 */
import { printableLine } from './printable.ts';

export interface ProgressState {
  status: string;
  /** 0-100 when the script reports a percent. */
  percent?: number;
  etaSeconds?: number;
  /** The `message` of the script's latest progress report, when it has one. */
  message?: string;
  elapsedSeconds: number;
}

/** `1h02m`, `3m05s`, `42s`: short enough for a status line. */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The script's message out of a progress value: `{message}` or `{progress, message}` by convention, or a plain string. */
export function progressMessage(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const message = (value as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  }
  return undefined;
}

function cut(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** The line for a terminal `columns` wide (never wider, so it never wraps). */
export function renderProgressLine(state: ProgressState, columns: number): string {
  const width = Math.max(20, columns) - 1;
  const left = state.etaSeconds !== undefined ? ` ${shortDuration(state.etaSeconds)} left` : '';
  const head = state.percent !== undefined ? `${String(Math.round(state.percent)).padStart(3)}%` : state.status;
  const tail = `${head}${left} · ${shortDuration(state.elapsedSeconds)}`;
  const barWidth = Math.max(10, Math.min(30, width - tail.length - 3));
  const filled = state.percent !== undefined ? Math.round((Math.min(100, Math.max(0, state.percent)) / 100) * barWidth) : 0;
  const bar = `[${'#'.repeat(filled)}${(state.percent !== undefined ? '-' : ' ').repeat(barWidth - filled)}]`;
  const line = `${bar} ${tail}`;
  const message = state.message ? ` ${printableLine(state.message)}` : '';
  return cut(line + message, width);
}

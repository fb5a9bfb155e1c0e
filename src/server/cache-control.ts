/**
 * `Cache-Control` for answers that carry task data (a task, its input, script, console, results,
 * files, status, events). Patavi lets any cache keep a finished task for a year: right while every
 * caller sees the same thing. Once answers depend on who asks (auth on: `privateResponses`), a
 * shared cache must keep none of them, or it would hand one caller's task to the next; the
 * caller's own browser still may. Pure.
 */
import type { ServerSettings } from './context.ts';

/** A year: finished tasks and their parts never change. */
const YEAR_SECONDS = 31_557_600;

export interface TaskCacheControl {
  /** A finished task, or a part of one that never changes. */
  immutable: string;
  /** Task data that may still change (a running task, /status, a submission's answer); undefined: no header. */
  changing: string | undefined;
  /** An event stream (SSE). */
  stream: string;
}

export function taskCacheControl(settings: Pick<ServerSettings, 'privateResponses'>): TaskCacheControl {
  if (settings.privateResponses === true) {
    return { immutable: `private, max-age=${YEAR_SECONDS}`, changing: 'private, no-cache', stream: 'private, no-cache' };
  }
  return { immutable: `public, max-age=${YEAR_SECONDS}`, changing: undefined, stream: 'no-cache' };
}

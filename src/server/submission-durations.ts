/**
 * A submission's ttl and queue deadline, range-checked at the edge. Both end up in SQL as
 * `now() + interval` (or a timestamp): an absurd one (P300000Y) would be accepted with a 201 and
 * then make the task's every later write fail, so each is refused here with a 400 naming its
 * field. Defaults from a service's manifest or the server's flags are cut to the maximum instead:
 * the client did not ask for them.
 */
import { checkDuration, DEFAULT_MAX_DEADLINE, DEFAULT_MAX_TTL, ErrandError } from '../core/index.ts';
import type { ServerSettings } from './context.ts';

export interface DurationLimits { maxTtl: string; maxTtlMs: number; maxDeadline: string; maxDeadlineMs: number }

function limit(text: string, fallback: string): { text: string; ms: number } {
  const checked = checkDuration(text);
  if (checked.ok) return { text, ms: checked.ms };
  const other = checkDuration(fallback);
  return { text: fallback, ms: other.ok ? other.ms : 0 };
}

export function durationLimits(settings: Pick<ServerSettings, 'maxTtl' | 'maxDeadline'>): DurationLimits {
  const ttl = limit(settings.maxTtl ?? DEFAULT_MAX_TTL, DEFAULT_MAX_TTL);
  const deadline = limit(settings.maxDeadline ?? DEFAULT_MAX_DEADLINE, DEFAULT_MAX_DEADLINE);
  return { maxTtl: ttl.text, maxTtlMs: ttl.ms, maxDeadline: deadline.text, maxDeadlineMs: deadline.ms };
}

/** The `ttl` query parameter, checked; null when not given. */
export function requestedTtl(text: string | undefined, limits: DurationLimits): string | null {
  if (text === undefined || text === '') return null;
  const checked = checkDuration(text, limits.maxTtlMs);
  if (checked.ok) return text;
  if (checked.reason === 'too-long') throw new ErrandError('invalid_ttl', `ttl must be at most ${limits.maxTtl}, got ${JSON.stringify(text)}`, 'ttl');
  throw new ErrandError('invalid_ttl', `ttl must be an ISO 8601 duration such as PT5M or P1D, got ${JSON.stringify(text)}`, 'ttl');
}

/** A default duration, cut to the maximum; undefined when it is not a duration at all. */
function capped(text: string | null | undefined, maxText: string, maxMs: number): string | undefined {
  if (text === null || text === undefined) return undefined;
  const checked = checkDuration(text);
  if (checked.ok) return checked.ms > maxMs ? maxText : text;
  return checked.reason === 'too-long' ? maxText : undefined;
}

/** The task's ttl: the request's, else the service's, else the server's default, else none. */
export function taskTtl(requested: string | null, serviceDefault: string | null | undefined, serverDefault: string | undefined, limits: DurationLimits): string | null {
  return requested ?? capped(serviceDefault, limits.maxTtl, limits.maxTtlMs) ?? capped(serverDefault, limits.maxTtl, limits.maxTtlMs) ?? null;
}

/** `deadline` is a duration from now (PT2H) or a time (2026-01-01T12:00:00Z); the task must start before it. */
export function parseDeadline(text: string, now: number, limits: DurationLimits): Date {
  const checked = checkDuration(text, limits.maxDeadlineMs);
  if (checked.ok) {
    if (checked.ms <= 0) throw new ErrandError('invalid_deadline', 'deadline must be longer than zero', 'deadline');
    return new Date(now + checked.ms);
  }
  if (checked.reason === 'too-long') throw new ErrandError('invalid_deadline', `deadline must be at most ${limits.maxDeadline} from now, got ${JSON.stringify(text)}`, 'deadline');
  const at = /^\d{4}-\d{2}-\d{2}T/.test(text) && text.length <= 64 ? new Date(text) : new Date(NaN);
  if (Number.isNaN(at.getTime())) {
    throw new ErrandError('invalid_deadline', `deadline must be an ISO 8601 duration such as PT2H or a time such as 2030-01-01T12:00:00Z, got ${JSON.stringify(text)}`, 'deadline');
  }
  if (at.getTime() <= now) throw new ErrandError('invalid_deadline', `deadline ${text} has already passed`, 'deadline');
  if (at.getTime() - now > limits.maxDeadlineMs) throw new ErrandError('invalid_deadline', `deadline must be at most ${limits.maxDeadline} from now, got ${JSON.stringify(text)}`, 'deadline');
  return at;
}

/** The task's deadline: the request's, else the service's queueTimeout, else the server's default, else none. */
export function taskDeadline(requested: string | undefined, serviceQueueTimeout: string | null | undefined, serverDefault: string | undefined, now: number, limits: DurationLimits): Date | null {
  if (requested !== undefined && requested !== '') return parseDeadline(requested, now, limits);
  const fallback = capped(serviceQueueTimeout, limits.maxDeadline, limits.maxDeadlineMs) ?? capped(serverDefault, limits.maxDeadline, limits.maxDeadlineMs);
  return fallback === undefined ? null : parseDeadline(fallback, now, limits);
}

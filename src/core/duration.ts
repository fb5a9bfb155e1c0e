/**
 * ISO 8601 durations as Patavi's `ttl` accepts them (PostgreSQL parses the same text as an
 * interval): PnYnMnWnDTnHnMnS, components optional but at least one present, decimals only on
 * the smallest component. Validated here so a bad ttl is a 400 naming the field, never a 500.
 */
const DURATION =
  /^P(?!$)(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export interface Duration {
  years: number; months: number; weeks: number; days: number;
  hours: number; minutes: number; seconds: number;
}

export function parseIsoDuration(text: string): Duration | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const parts = match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const decimals = match.slice(1).filter((part) => part !== undefined && part.includes("."));
  // Only the last component given may carry a fraction (ISO 8601).
  const lastGiven = match.slice(1).filter((part) => part !== undefined).at(-1);
  if (decimals.length > 1 || (decimals.length === 1 && decimals[0] !== lastGiven)) return undefined;
  const [years, months, weeks, days, hours, minutes, seconds] = parts as [number, number, number, number, number, number, number];
  return { years, months, weeks, days, hours, minutes, seconds };
}

/** Approximate length in milliseconds (a month is 30 days, a year 365): for limits and display, not for expiry. */
export function durationToMillis(d: Duration): number {
  const days = d.years * 365 + d.months * 30 + d.weeks * 7 + d.days;
  return ((days * 24 + d.hours) * 60 + d.minutes) * 60_000 + d.seconds * 1000;
}

/**
 * The longest duration any ttl, deadline, timeout or cache lifetime may be, whatever the settings:
 * `now() + P1000Y` stays far inside PostgreSQL's timestamps (year 294276) and JavaScript's dates
 * (year 275760), so a duration that passed this check can never make a write fail
 * ("timestamp out of range") long after the request that carried it was answered 201.
 */
export const DURATION_CEILING = 'P1000Y';
export const DURATION_CEILING_MS = 1000 * 365 * 86_400_000;
/** Defaults of the server's --max-ttl and --max-deadline. */
export const DEFAULT_MAX_TTL = 'P10Y';
export const DEFAULT_MAX_DEADLINE = 'P10Y';
/** Longer texts are refused before parsing: no valid duration within the ceiling needs more. */
const MAX_DURATION_TEXT = 64;

export type DurationCheck = { ok: true; ms: number } | { ok: false; reason: 'syntax' | 'too-long' };

/** Reads an ISO 8601 duration and checks it is no longer than `maxMs` (at most the ceiling). */
export function checkDuration(text: string, maxMs: number = DURATION_CEILING_MS): DurationCheck {
  const parsed = text.length <= MAX_DURATION_TEXT ? parseIsoDuration(text) : undefined;
  if (!parsed) return { ok: false, reason: text.length > MAX_DURATION_TEXT && /^P[\d.YMWDTHS]*$/.test(text) ? 'too-long' : 'syntax' };
  const ms = durationToMillis(parsed);
  // Infinity (a component too large for a double) and NaN fail this too.
  if (!(ms <= Math.min(maxMs, DURATION_CEILING_MS))) return { ok: false, reason: 'too-long' };
  return { ok: true, ms };
}

/** A duration within the ceiling, or undefined: for durations read from others' messages. */
export function boundedDuration(text: unknown): string | undefined {
  return typeof text === 'string' && checkDuration(text).ok ? text : undefined;
}

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

/**
 * Streams end when the credential that opened them does (issue 12): a JWT past its `exp`, a
 * capability token past its expiry. A client reconnects with a fresh one; what it may read is
 * decided again then.
 */
import type { Caller } from '../core/index.ts';

/** WebSocket close code: the credential this socket was opened with has expired (4000-4999: for applications). */
export const CREDENTIAL_EXPIRED_CLOSE = 4001;

/** Longest delay a Node timer takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When the caller's access ends: the first of its credential's expiry and, when it came with a
 * task link, the link's (a stream opened through a link ends with it, whatever else the caller
 * holds: an expiring link is how a single link is withdrawn). Open reads need no link.
 */
export function accessEndsAt(caller: Caller): number | undefined {
  const ends: number[] = [];
  if (caller.principal && caller.expiresAt !== undefined) ends.push(caller.expiresAt);
  if (caller.capability && !caller.openReads) ends.push(caller.capability.expiresAt);
  return ends.length > 0 ? Math.min(...ends) : undefined;
}

/** Calls `onExpiry` when the caller's access ends (never, when it does not); cancel() stops the timer. */
export function closeAtExpiry(caller: Caller, onExpiry: () => void, now: () => number = Date.now): { cancel(): void } {
  const endsAt = accessEndsAt(caller);
  if (endsAt === undefined) return { cancel() {} };
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const left = endsAt - now();
    if (left <= 0) return onExpiry();
    // Beyond a timer's reach: wait as long as it can, then look again.
    timer = setTimeout(left > MAX_TIMER_MS ? arm : onExpiry, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}

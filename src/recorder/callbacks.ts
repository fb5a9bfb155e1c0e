/**
 * The callback deliverer (issue 14), run beside every recorder's janitor: it polls PostgreSQL for
 * callbacks of ended tasks that are due, claims a few (FOR UPDATE SKIP LOCKED and a lease, so that
 * several recorders share the work and none sends an attempt another holds), POSTs each task's
 * description signed with HMAC-SHA256, and records every attempt. A failed attempt is tried again
 * after a backoff that doubles each time, until a 2xx or the last attempt. Nothing is kept in
 * memory that a restart would lose: a recorder that stops leaves its callbacks to the next.
 *
 * Off the recorder's hot path: its own timer and at most `concurrency` requests in flight; the
 * recorder's writes never wait for it.
 */
import type { Logger } from 'pino';
import { callbackRetryDelayMs, callbackSignature, describeTask } from '../core/index.ts';
import type { CallbackAllowlist, CallbackRetryPolicy } from '../core/index.ts';
import type { Callbacks, ClaimedCallback, TaskReads } from '../store/index.ts';
import { delivered, postCallback } from './callback-request.ts';
import type { Resolver } from './callback-request.ts';

export interface CallbackSettings {
  /** Signs every delivery (Errand-Signature); never logged. */
  secret: string;
  allowlist: CallbackAllowlist;
  retry: CallbackRetryPolicy;
  /** Longest an attempt may take, connection to the answer's headers. */
  timeoutMs: number;
  /** How often due callbacks are looked for. */
  pollIntervalMs: number;
  /** Attempts in flight at once in this process. */
  concurrency: number;
  /** The User-Agent of deliveries: `errand/<version>`. */
  userAgent: string;
  /** How names are resolved (tests give their own). */
  resolve?: Resolver;
}

export interface CallbackDeliveryOptions extends CallbackSettings {
  store: Callbacks & Pick<TaskReads, 'getTask'>;
  logger: Logger;
  /** The base of the links in the description (--public-url), as GET /task/:id gives them. */
  publicUrl: string;
  /** How long a claim lasts (default: the timeout plus LEASE_MARGIN_MS); tests shorten it. */
  leaseMs?: number;
}

export interface CallbackDelivery {
  /** Claims and starts what is due now (up to the free slots); returns how many attempts it began. */
  poll(): Promise<number>;
  /** Stops polling and waits for the attempts under way to end and be recorded. */
  stop(): Promise<void>;
}

/**
 * A claim lasts the attempt's timeout and this much more (recording it, a busy machine): only a
 * deliverer that stopped during an attempt leaves one for others to take, that much later.
 */
export const LEASE_MARGIN_MS = 10_000;

export function startCallbackDelivery(options: CallbackDeliveryOptions): CallbackDelivery {
  const { store } = options;
  const log = options.logger.child({ part: 'callbacks' });
  const base = options.publicUrl.replace(/\/+$/, '');
  // The links of GET /task/:id (server/links.ts linksAt), without any access token: the receiver reads with its own credential.
  const links = { http: base, ws: base.replace(/^http/, 'ws') };
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let polling: Promise<number> | undefined;
  /** The last claim filled every free slot: more may be due, so the next slot to free up polls again. */
  let more = false;

  async function attempt(claim: ClaimedCallback): Promise<void> {
    const task = await store.getTask(claim.taskId);
    // Deleted meanwhile: its callbacks went with it.
    if (!task) return;
    const body = JSON.stringify(describeTask(links, task));
    const timestamp = Math.floor(Date.now() / 1000);
    const answer = await postCallback({
      url: claim.url,
      body,
      headers: {
        'content-type': 'application/json',
        'user-agent': options.userAgent,
        'errand-signature': callbackSignature(options.secret, timestamp, body),
        'errand-task': claim.taskId,
        'errand-attempt': String(claim.attempt),
      },
      timeoutMs: options.timeoutMs,
      allowlist: options.allowlist,
      ...(options.resolve ? { resolve: options.resolve } : {}),
    });
    const ok = delivered(answer);
    const retryInMs = ok ? undefined : callbackRetryDelayMs(claim.attempt, options.retry);
    const state = ok ? 'delivered' : retryInMs === undefined ? 'failed' : 'pending';
    // Hosts, never the URL (its path or query may hold the receiver's own token).
    const where = { taskId: claim.taskId, host: new URL(claim.url).host, attempt: claim.attempt, statusCode: answer.statusCode, ms: Math.round(answer.durationMs) };
    if (state === 'delivered') log.info(where, 'callback delivered');
    else if (state === 'failed') log.warn({ ...where, error: answer.error }, 'callback failed: no attempts left');
    else log.info({ ...where, error: answer.error, retryInMs }, 'callback attempt failed; will retry');
    await store.finishCallbackAttempt({
      id: claim.id, taskId: claim.taskId, attempt: claim.attempt, durationMs: answer.durationMs, statusCode: answer.statusCode, error: answer.error, state,
      ...(retryInMs !== undefined ? { retryInMs } : {}),
    });
  }

  function begin(claim: ClaimedCallback): void {
    const run = attempt(claim)
      .catch((err: Error) => log.warn({ taskId: claim.taskId, attempt: claim.attempt, err: err.message }, 'callback attempt could not be made or recorded; it is tried again once its claim runs out'))
      .finally(() => {
        inFlight.delete(run);
        if (more && !stopped) void poll().catch(() => undefined);
      });
    inFlight.add(run);
  }

  async function claimDue(): Promise<number> {
    const free = options.concurrency - inFlight.size;
    if (stopped || free <= 0) return 0;
    const claims = await store.claimCallbacks(free, options.leaseMs ?? options.timeoutMs + LEASE_MARGIN_MS, options.retry.maxAttempts);
    more = claims.length === free;
    for (const claim of claims) begin(claim);
    return claims.length;
  }

  const poll = (): Promise<number> => (polling ??= claimDue().finally(() => { polling = undefined; }));

  const timer = setInterval(() => {
    poll().catch((err: Error) => log.warn({ err: err.message }, 'could not look for due callbacks; will retry'));
  }, options.pollIntervalMs);
  timer.unref();

  return {
    poll,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await polling?.catch(() => undefined);
      await Promise.allSettled([...inFlight]);
    },
  };
}

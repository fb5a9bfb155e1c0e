/**
 * Capacity figures of a service from queueing theory: the M/M/c queue (Poisson arrivals at rate
 * λ, exponential run times of mean 1/μ, c slots running one task each). Erlang C gives the
 * chance an arrival has to wait and the mean wait in the queue, W_q = C(c, λ/μ) / (cμ − λ);
 * the slots needed for a target wait are the smallest c with W_q ≤ target. When λ ≥ cμ there
 * is no steady state: the queue grows, and the wait is estimated from the backlog instead.
 * docs/operations.md ("Capacity") has the formula and a worked example.
 */

/** Rates and times are in seconds throughout. */
export interface CapacityInputs {
  /** λ: tasks arriving per second, over the model's window. */
  arrivalRate: number;
  /** 1/μ: mean seconds a task holds a slot; undefined when no task has run lately. */
  meanRunSeconds: number | undefined;
  /** c: slots the service's workers run at once. */
  slots: number;
  /** Tasks waiting now, and running now. */
  queued: number;
  running: number;
  /** Tasks finishing per second over the model's window (the backlog's drain when overloaded). */
  completionRate: number;
  /** The wait the slots needed are computed for; undefined: none asked. */
  targetWaitSeconds?: number;
}

/** How the wait of a task submitted now was estimated. */
export type WaitBasis =
  /** A slot is free and nothing waits for it: no wait. */
  | 'free-slot'
  /** All slots busy: the tasks ahead and this one leave the queue at c·μ per second. */
  | 'queue'
  /** λ ≥ cμ, the queue grows: backlog / measured completion rate. */
  | 'overloaded'
  /** No slot at all: the task waits until a worker comes. */
  | 'no-slots'
  /** No run time known (nothing ran lately) and no free slot, or nothing completes to drain the backlog. */
  | 'unknown';

export interface CapacityModel {
  /** λ/μ: slots kept busy on average (Erlangs). */
  offeredLoad: number;
  /** λ/(cμ): the share of the slots in use; 1 and above, the queue grows. */
  utilization: number | null;
  /** λ < cμ: the M/M/c queue has a steady state. */
  stable: boolean;
  /** Erlang C: the chance an arrival waits for a slot. */
  waitProbability: number | null;
  /** W_q: mean seconds in the queue in the steady state. */
  expectedWaitSeconds: number | null;
}

export interface CapacityFigures {
  /** Null when μ is unknown (no task ran lately). */
  model: CapacityModel | null;
  estimatedWaitSeconds: number | null;
  estimate: WaitBasis;
  /** Smallest c with W_q ≤ the target; null when not asked, or μ unknown. */
  slotsNeeded: number | null;
  /** Why the queue grows, when it does, in words. */
  note?: string;
}

/** The most slots slotsForTargetWait tries before giving up (a bound on its loop). */
export const MAX_SLOTS_SEARCHED = 1_000_000;

/**
 * Erlang B by its recurrence, B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)): no factorials or
 * powers, so it stays exact for thousands of slots where the textbook sum overflows.
 */
function erlangBStep(k: number, a: number, previous: number): number {
  return (a * previous) / (k + a * previous);
}

function erlangCFromB(c: number, a: number, b: number): number {
  return (c * b) / (c - a * (1 - b));
}

/**
 * Erlang C: the probability that an arrival finds all `c` slots busy, for offered load
 * a = λ/μ. 1 when a ≥ c (every arrival waits); 0 when a is 0.
 */
export function erlangC(c: number, a: number): number {
  if (!Number.isInteger(c) || c < 0) throw new RangeError(`slots must be a whole number ≥ 0, got ${c}`);
  if (!(a >= 0) || !Number.isFinite(a)) throw new RangeError(`offered load must be finite and ≥ 0, got ${a}`);
  if (a === 0) return 0;
  if (a >= c) return 1;
  let b = 1;
  for (let k = 1; k <= c; k++) b = erlangBStep(k, a, b);
  return erlangCFromB(c, a, b);
}

/** W_q = C(c, λ/μ) / (cμ − λ): mean seconds in the queue; Infinity when λ ≥ cμ. */
export function expectedQueueWait(arrivalRate: number, serviceRate: number, slots: number): number {
  if (arrivalRate === 0) return 0;
  if (!(serviceRate > 0)) throw new RangeError(`service rate must be > 0, got ${serviceRate}`);
  if (arrivalRate >= slots * serviceRate) return Infinity;
  return erlangC(slots, arrivalRate / serviceRate) / (slots * serviceRate - arrivalRate);
}

/**
 * The smallest number of slots c with W_q ≤ `targetSeconds`. Walks c upward with Erlang B's
 * recurrence, so finding c costs O(c). Undefined past MAX_SLOTS_SEARCHED (absurd inputs).
 */
export function slotsForTargetWait(arrivalRate: number, serviceRate: number, targetSeconds: number): number | undefined {
  if (!(targetSeconds > 0)) throw new RangeError(`target wait must be > 0 seconds, got ${targetSeconds}`);
  if (!(serviceRate > 0)) throw new RangeError(`service rate must be > 0, got ${serviceRate}`);
  if (!(arrivalRate >= 0) || !Number.isFinite(arrivalRate)) throw new RangeError(`arrival rate must be finite and ≥ 0, got ${arrivalRate}`);
  if (arrivalRate === 0) return 0;
  const a = arrivalRate / serviceRate;
  let b = 1;
  for (let c = 1; c <= MAX_SLOTS_SEARCHED; c++) {
    b = erlangBStep(c, a, b);
    // Below c = a the queue has no steady state: no c that small can do.
    if (c * serviceRate <= arrivalRate) continue;
    const wait = erlangCFromB(c, a, b) / (c * serviceRate - arrivalRate);
    if (wait <= targetSeconds) return c;
  }
  return undefined;
}

const round = (x: number, digits = 4): number => Number(x.toPrecision(digits));

/** Everything the stats answer derives from the measured inputs. */
export function capacityFigures(inputs: CapacityInputs): CapacityFigures {
  const { arrivalRate: lambda, slots: c, queued, running, completionRate } = inputs;
  // A run time measured as 0 (tasks under the clock's resolution) is taken as 1 ms: μ stays finite.
  const meanRun = inputs.meanRunSeconds === undefined ? undefined : Math.max(inputs.meanRunSeconds, 0.001);
  const mu = meanRun === undefined ? undefined : 1 / meanRun;
  const freeSlots = Math.max(0, c - running);

  let model: CapacityModel | null = null;
  let note: string | undefined;
  if (mu !== undefined) {
    const stable = lambda < c * mu || lambda === 0;
    const wait = c === 0 ? (lambda === 0 ? 0 : Infinity) : expectedQueueWait(lambda, mu, c);
    model = {
      offeredLoad: lambda / mu,
      utilization: c === 0 ? null : lambda / (c * mu),
      stable,
      waitProbability: c === 0 ? null : erlangC(c, lambda / mu),
      expectedWaitSeconds: Number.isFinite(wait) ? wait : null,
    };
    if (!stable) {
      note = c === 0
        ? `tasks arrive at ${round(lambda)}/s and no worker slot serves them: the queue grows`
        : `tasks arrive at ${round(lambda)}/s, faster than ${c} slot${c === 1 ? '' : 's'} complete them (${round(c * mu)}/s at ${round(meanRun!)} s each): the queue grows`;
    }
  }

  let estimate: WaitBasis;
  let estimatedWaitSeconds: number | null = null;
  if (c === 0) {
    estimate = 'no-slots';
  } else if (queued < freeSlots) {
    estimate = 'free-slot';
    estimatedWaitSeconds = 0;
  } else if (mu === undefined) {
    estimate = 'unknown';
  } else if (model && !model.stable) {
    // No steady state: the backlog drains (if at all) at the rate tasks are seen to complete.
    if (completionRate > 0) {
      estimate = 'overloaded';
      estimatedWaitSeconds = (queued + 1) / completionRate;
    } else {
      estimate = 'unknown';
    }
  } else {
    // All slots busy: the tasks ahead of this one and a slot for it must free up, one departure
    // every 1/(cμ) seconds on average (the M/M/c queue while every slot is busy); the same
    // count as estimateStartSeconds gives a queued task, unrounded.
    estimate = 'queue';
    estimatedWaitSeconds = (queued - freeSlots + 1) / (c * mu);
  }

  let slotsNeeded: number | null = null;
  if (inputs.targetWaitSeconds !== undefined && mu !== undefined) {
    slotsNeeded = slotsForTargetWait(lambda, mu, inputs.targetWaitSeconds) ?? null;
  }
  return { model, estimatedWaitSeconds, estimate, slotsNeeded, ...(note ? { note } : {}) };
}

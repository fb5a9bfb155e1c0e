/** The queueing figures behind GET /services/:name/stats, against textbook values and the closed form. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capacityFigures, erlangC, expectedQueueWait, MAX_SLOTS_SEARCHED, slotsForTargetWait } from '../../src/core/capacity.ts';

const near = (actual: number, expected: number, tolerance = 1e-4, what = '') =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} is not within ${tolerance} of ${expected}`);

/** The textbook closed form, Σ a^k/k! with factorials: fine for the small c it is used on here. */
function erlangCClosedForm(c: number, a: number): number {
  let term = 1;
  let sum = 0;
  for (let k = 0; k < c; k++) {
    sum += term;
    term *= a / (k + 1);
  }
  const top = term * (c / (c - a));
  return top / (sum + top);
}

test('Erlang C and W_q match textbook values', () => {
  // λ = 2/s, μ = 1/s, c = 3: C = 4/9, W_q = C / (cμ − λ) = 4/9 s.
  near(erlangC(3, 2), 4 / 9, 1e-12, 'C(3, 2)');
  near(expectedQueueWait(2, 1, 3), 4 / 9, 1e-12, 'W_q');
  // M/M/1: C = ρ, W_q = ρ / (μ − λ).
  near(erlangC(1, 0.5), 0.5, 1e-12, 'C(1, 0.5)');
  near(expectedQueueWait(0.5, 1, 1), 1, 1e-12, 'W_q M/M/1');
  // M/M/2 with a = 1: C = 1/3.
  near(erlangC(2, 1), 1 / 3, 1e-12, 'C(2, 1)');
  // A call-centre table value: 10 Erlangs on 11 agents waits 68.2 % of the time.
  near(erlangC(11, 10), 0.6821, 1e-4, 'C(11, 10)');
});

test('the recurrence agrees with the closed form, and stays finite where the closed form overflows', () => {
  for (const c of [1, 2, 3, 5, 8, 13, 21, 34]) {
    for (const share of [0.05, 0.3, 0.6, 0.9, 0.99]) {
      const a = c * share;
      near(erlangC(c, a), erlangCClosedForm(c, a), 1e-9, `C(${c}, ${a})`);
    }
  }
  const big = erlangC(5000, 4900);
  assert.ok(big > 0 && big < 1, `C(5000, 4900) = ${big}`);
  assert.ok(!Number.isFinite(erlangCClosedForm(5000, 4900)), 'the closed form overflows there');
});

test('edge values: no load never waits, a load at or over the slots always does, and bad inputs are refused', () => {
  assert.equal(erlangC(3, 0), 0);
  assert.equal(erlangC(3, 3), 1);
  assert.equal(erlangC(3, 7), 1);
  assert.equal(erlangC(0, 1), 1);
  assert.equal(expectedQueueWait(0, 1, 0), 0);
  assert.equal(expectedQueueWait(3, 1, 3), Infinity);
  assert.throws(() => erlangC(1.5, 1), RangeError);
  assert.throws(() => erlangC(2, -1), RangeError);
  assert.throws(() => erlangC(2, Infinity), RangeError);
  assert.throws(() => expectedQueueWait(1, 0, 2), RangeError);
  assert.throws(() => slotsForTargetWait(1, 1, 0), RangeError);
  assert.throws(() => slotsForTargetWait(1, 0, 1), RangeError);
  assert.throws(() => slotsForTargetWait(Number.NaN, 1, 1), RangeError);
});

test('slots needed: the smallest c whose W_q is within the target', () => {
  assert.equal(slotsForTargetWait(2, 1, 0.5), 3); // W_q(3) = 0.444
  assert.equal(slotsForTargetWait(2, 1, 0.4), 4); // W_q(4) = 0.087
  assert.equal(slotsForTargetWait(2, 1, 0.0869), 5);
  assert.equal(slotsForTargetWait(0, 1, 1), 0);
  // A long target never needs fewer slots than the load: below it the queue grows without end.
  assert.equal(slotsForTargetWait(10, 1, 1e9), 11);
  for (const [lambda, mu, target] of [[2, 1, 0.5], [50, 0.2, 60], [0.01, 1 / 3600, 600], [1200, 2, 0.05], [3, 3, 0.01]] as const) {
    const c = slotsForTargetWait(lambda, mu, target)!;
    assert.ok(expectedQueueWait(lambda, mu, c) <= target, `W_q(${c}) within ${target}`);
    if (c > 0) assert.ok(expectedQueueWait(lambda, mu, c - 1) > target, `W_q(${c - 1}) over ${target}`);
  }
  // 10,000 Erlangs: found in one pass of the recurrence.
  const many = slotsForTargetWait(10_000, 1, 1)!;
  assert.ok(many > 10_000 && many < 10_200, String(many));
  assert.ok(MAX_SLOTS_SEARCHED >= 1_000_000);
});

test('capacityFigures: a stable queue with every slot busy estimates the wait from the tasks ahead', () => {
  const figures = capacityFigures({ arrivalRate: 2, meanRunSeconds: 1, slots: 3, queued: 4, running: 3, completionRate: 2, targetWaitSeconds: 0.5 });
  assert.equal(figures.estimate, 'queue');
  near(figures.estimatedWaitSeconds!, 5 / 3, 1e-12, 'wait for 4 ahead + itself at 3/s');
  assert.equal(figures.model!.stable, true);
  near(figures.model!.offeredLoad, 2, 1e-12);
  near(figures.model!.utilization!, 2 / 3, 1e-12);
  near(figures.model!.waitProbability!, 4 / 9, 1e-12);
  near(figures.model!.expectedWaitSeconds!, 4 / 9, 1e-12);
  assert.equal(figures.slotsNeeded, 3);
  assert.equal(figures.note, undefined);
});

test('capacityFigures: a free slot means no wait; no slots or no run time say so', () => {
  const free = capacityFigures({ arrivalRate: 1, meanRunSeconds: 1, slots: 4, queued: 0, running: 2, completionRate: 1 });
  assert.equal(free.estimate, 'free-slot');
  assert.equal(free.estimatedWaitSeconds, 0);
  assert.equal(free.slotsNeeded, null, 'no target asked');

  const none = capacityFigures({ arrivalRate: 1, meanRunSeconds: 1, slots: 0, queued: 5, running: 0, completionRate: 0, targetWaitSeconds: 60 });
  assert.equal(none.estimate, 'no-slots');
  assert.equal(none.estimatedWaitSeconds, null);
  assert.equal(none.model!.stable, false);
  assert.equal(none.model!.utilization, null);
  assert.equal(none.model!.expectedWaitSeconds, null);
  assert.match(none.note!, /no worker slot serves them: the queue grows/);
  assert.equal(none.slotsNeeded, 2, 'one slot at λ = μ never keeps up');

  const unknown = capacityFigures({ arrivalRate: 1, meanRunSeconds: undefined, slots: 2, queued: 3, running: 2, completionRate: 0, targetWaitSeconds: 60 });
  assert.equal(unknown.estimate, 'unknown');
  assert.equal(unknown.model, null);
  assert.equal(unknown.slotsNeeded, null);
  // A run time under the clock's resolution still gives a finite μ.
  const instant = capacityFigures({ arrivalRate: 100, meanRunSeconds: 0, slots: 1, queued: 0, running: 1, completionRate: 100, targetWaitSeconds: 1 });
  assert.equal(instant.model!.stable, true);
  near(instant.model!.offeredLoad, 0.1, 1e-12);
});

test('capacityFigures: arrivals beyond c·μ grow the queue, and the wait comes from backlog / completion rate', () => {
  const over = capacityFigures({ arrivalRate: 3, meanRunSeconds: 1, slots: 2, queued: 39, running: 2, completionRate: 2, targetWaitSeconds: 60 });
  assert.equal(over.model!.stable, false);
  near(over.model!.utilization!, 1.5, 1e-12);
  assert.equal(over.model!.expectedWaitSeconds, null);
  assert.equal(over.model!.waitProbability, 1);
  assert.equal(over.estimate, 'overloaded');
  near(over.estimatedWaitSeconds!, 40 / 2, 1e-12);
  assert.match(over.note!, /tasks arrive at 3\/s, faster than 2 slots complete them \(2\/s at 1 s each\): the queue grows/);
  assert.equal(over.slotsNeeded, slotsForTargetWait(3, 1, 60));
  const stuck = capacityFigures({ arrivalRate: 3, meanRunSeconds: 1, slots: 2, queued: 39, running: 2, completionRate: 0 });
  assert.equal(stuck.estimate, 'unknown');
  assert.equal(stuck.estimatedWaitSeconds, null);
});

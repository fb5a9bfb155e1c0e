/** statusAfter: what a task's status is after each kind of event (the event hub's view of a task). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventTypes, statusAfter } from '../../src/core/index.ts';

test('each event type gives the status a task has after it; progress and console output leave it', () => {
  assert.deepEqual(Object.fromEntries(EventTypes.map((type) => [type, statusAfter(type)])), {
    queued: 'queued', started: 'running', progress: undefined, console: undefined, retried: 'running',
    done: 'done', failed: 'failed', canceled: 'canceled', expired: 'expired', deleted: 'deleted',
  });
});

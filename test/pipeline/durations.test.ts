/**
 * A ttl or deadline is range-checked when the task is submitted: an absurd one (P300000Y) once
 * answered 201 and then made the task's result unrecordable forever ("timestamp out of range"),
 * and `deadline=P300000Y` answered 503 with Retry-After, so a client retried forever. Now each
 * is a 400 naming its field; defaults from a service or the server are cut to the maximum.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { echo, gate, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

await describeEachBackend('ttl and deadline limits', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const held = gate('held-long');
  before(async () => {
    backend = await kind.create();
    // A service whose manifest asks for more than this server allows (as a worker elsewhere may).
    const greedy = service('greedy', (input) => input, 1, { ttl: 'P100Y', queueTimeout: 'P100Y' });
    stack = await startStack(backend, { services: [echo(), greedy, held.definition], settings: { maxTtl: 'P1Y', maxDeadline: 'P1Y' } });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  async function submit(service: string, query: Record<string, string>): Promise<{ status: number; json: any }> {
    const response = await fetch(`${stack.baseUrl}/task?${new URLSearchParams({ service, ...query })}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
    });
    return { status: response.status, json: await response.json() };
  }

  test('a ttl or deadline beyond the maximum, or no date at all, is a 400 naming its field; nothing is stored', async () => {
    const tasksBefore = await countTasks(backend);
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ ttl: 'P300000Y' }, 'invalid_ttl', 'ttl'],
      [{ ttl: 'P2Y' }, 'invalid_ttl', 'ttl'],
      [{ ttl: 'PT9999999999999999999S' }, 'invalid_ttl', 'ttl'],
      [{ ttl: `P${'9'.repeat(400)}Y` }, 'invalid_ttl', 'ttl'],
      [{ deadline: 'P300000Y' }, 'invalid_deadline', 'deadline'],
      [{ deadline: 'P2Y' }, 'invalid_deadline', 'deadline'],
      [{ deadline: `PT${'9'.repeat(400)}S` }, 'invalid_deadline', 'deadline'],
      [{ deadline: '9999-12-31T00:00:00Z' }, 'invalid_deadline', 'deadline'],
      [{ deadline: '+275760-09-13T00:00:00Z' }, 'invalid_deadline', 'deadline'],
    ];
    for (const [query, code, field] of cases) {
      const { status, json } = await submit('echo', query);
      assert.equal(status, 400, `${JSON.stringify(query)}: ${JSON.stringify(json)}`);
      assert.equal(json.error.code, code, JSON.stringify(query));
      assert.equal(json.error.field, field, JSON.stringify(query));
    }
    assert.match((await submit('echo', { ttl: 'P2Y' })).json.error.message, /at most P1Y/);
    assert.equal(await countTasks(backend), tasksBefore);
  });

  test('the maximum itself is accepted, and the task runs', async () => {
    const { status, json } = await submit('echo', { ttl: 'P1Y', deadline: 'P1Y' });
    assert.equal(status, 201, JSON.stringify(json));
    const row = await backend.db.query<{ capped: boolean }>(`SELECT ttl = interval 'P1Y' AS capped FROM task WHERE id = $1`, [BigInt(`0x${json.id}`).toString()]);
    assert.equal(row.rows[0]?.capped, true);
  });

  test("a service's longer default ttl and queue timeout are cut to the server's maximum, not refused", async () => {
    const sentAt = Date.now();
    const { status, json } = await submit('greedy', {});
    assert.equal(status, 201, JSON.stringify(json));
    const row = await backend.db.query<{ capped: boolean }>(`SELECT ttl = interval 'P1Y' AS capped FROM task WHERE id = $1`, [BigInt(`0x${json.id}`).toString()]);
    assert.equal(row.rows[0]?.capped, true);
    const year = 365 * 86_400_000;
    assert.ok(Date.parse(json.deadline) >= sentAt + year && Date.parse(json.deadline) <= Date.now() + year, json.deadline);
  });
});

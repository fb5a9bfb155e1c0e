/**
 * Capability links across servers (issue 12): a link one server handed out works on every replica
 * configured with the same secret, and after a rotation where the old secret is still accepted;
 * a server that no longer accepts the secret sees a task that is not there (404).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { capabilityKeyring } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

const OLD = 'b2xkLWNhcGFiaWxpdHktc2VjcmV0LWZvci1yb3RhdGlvbi10ZXN0cy0zMmI';
const NEW = 'bmV3LWNhcGFiaWxpdHktc2VjcmV0LWZvci1yb3RhdGlvbi10ZXN0cy0zMmI';
const HOUR = 3_600_000;

await describeEachBackend('capability links across servers', (kind) => {
  let backend: Backend;
  const stacks: Stack[] = [];
  const start = async (nodeId: number, current: string, previous: string[] = []): Promise<Stack> => {
    const stack = await startStack(backend, {
      ...(nodeId === 1 ? { services: [echo()] } : { recorder: false }),
      nodeId,
      settings: { apiKey: 'k', capabilities: { keyring: capabilityKeyring(current, previous), lifetimeMs: HOUR } },
    });
    stacks.push(stack);
    return stack;
  };
  before(async () => { backend = await kind.create(); });
  after(async () => {
    for (const stack of stacks) await stack.close();
    await backend.close();
  });

  test('a link from one server reads on a replica with the same secret, on one that rotated and keeps the old, not on one that dropped it', async () => {
    const issuer = await start(1, OLD);
    const { json } = await postTask(issuer.baseUrl, 'echo', { n: 7 }, { headers: { 'x-api-key': 'k' } });
    await watchUpdates(json._links.updates.href);
    const path = `${new URL(json._links.self.href).pathname}/results`;
    assert.match(path, /^\/access\/[A-Za-z0-9_-]{47}\/task\/[0-9a-f]{16}\/results$/);
    const replica = await start(2, OLD);
    const rotated = await start(3, NEW, [OLD]);
    const dropped = await start(4, NEW);
    for (const [server, status] of [[issuer, 200], [replica, 200], [rotated, 200], [dropped, 404]] as const) {
      const answer = await fetch(`${server.baseUrl}${path}`);
      assert.equal(answer.status, status, server.baseUrl);
      if (status === 200) assert.deepEqual(await answer.json(), { n: 7 });
      else assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'not_found');
    }
    // The rotated server signs new links with the new secret, which the one that dropped the old reads.
    const asked = await fetch(`${rotated.baseUrl}/task/${json.id}`, { headers: { 'x-api-key': 'k' } });
    // A finished task's description is immutable, but its links' token expires: never kept long.
    assert.equal(asked.headers.get('cache-control'), 'private, no-cache');
    const fresh = (await asked.json()) as { _links: { self: { href: string } } };
    assert.equal((await fetch(`${dropped.baseUrl}${new URL(fresh._links.self.href).pathname}`)).status, 200);
    assert.equal((await fetch(`${replica.baseUrl}${new URL(fresh._links.self.href).pathname}`)).status, 404, 'a server with only the old secret does not know the new one');
  });
});

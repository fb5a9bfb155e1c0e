import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accessBase, CAPABILITY_SEGMENT, describeTask, splitAccess } from '../../src/core/index.ts';

const base = { http: 'https://errand.example.org', ws: 'wss://errand.example.org' };
const TOKEN = 'AQID-_abc';

test('a task described under an access base carries the token in every link, as a path segment', () => {
  assert.equal(CAPABILITY_SEGMENT, 'access');
  const done = describeTask(accessBase(base, TOKEN), { id: '0186f2a4c1000001', service: 'echo', status: 'done', hasScript: true });
  assert.deepEqual(done._links, {
    self: { href: `https://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001` },
    updates: { href: `wss://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001/updates` },
    task: { href: `https://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001/task` },
    events: { href: `https://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001/events` },
    results: { href: `https://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001/results` },
    script: { href: `https://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001/script` },
  });
});

test('a result file\'s relative href resolves under the token', () => {
  const self = describeTask(accessBase(base, TOKEN), { id: '0186f2a4c1000001', service: 'echo', status: 'done' })._links.self.href;
  assert.equal(new URL('plot.png', `${self}/results/`).href, `https://errand.example.org/access/${TOKEN}/task/0186f2a4c1000001/results/plot.png`);
});

test('a base with a path keeps it before the token', () => {
  assert.deepEqual(accessBase({ http: 'https://e.org/errand', ws: 'wss://e.org/errand' }, TOKEN), { http: `https://e.org/errand/access/${TOKEN}`, ws: `wss://e.org/errand/access/${TOKEN}` });
});

test('a request target is split into its token and the rest', () => {
  assert.deepEqual(splitAccess(`/access/${TOKEN}/task/1/results/a.png`), { token: TOKEN, rest: '/task/1/results/a.png' });
  assert.deepEqual(splitAccess(`/access/${TOKEN}/events?task=1`), { token: TOKEN, rest: '/events?task=1' });
  assert.deepEqual(splitAccess(`/access/${TOKEN}`), { token: TOKEN, rest: '/' });
  assert.deepEqual(splitAccess(`/access/${TOKEN}?x=1`), { token: TOKEN, rest: '/?x=1' });
  assert.deepEqual(splitAccess('/access//task/1'), { token: '', rest: '/task/1' });
  assert.equal(splitAccess('/task/1'), undefined);
  assert.equal(splitAccess('/accessory/x/task/1'), undefined);
  assert.equal(splitAccess(`/task/1/access/${TOKEN}`), undefined);
});

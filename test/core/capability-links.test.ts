import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CAPABILITY_PARAM, capabilityLinks, describeTask, linksWithAccess, redactAccess, withAccess } from '../../src/core/index.ts';

const base = { http: 'https://errand.example.org', ws: 'wss://errand.example.org' };
const TOKEN = 'AQID-_abc';

test('the token travels in ?access=', () => {
  assert.equal(CAPABILITY_PARAM, 'access');
  assert.equal(withAccess('https://e/task/1', TOKEN), `https://e/task/1?access=${TOKEN}`);
  assert.equal(withAccess('https://e/task?service=echo', TOKEN), `https://e/task?service=echo&access=${TOKEN}`);
  assert.equal(withAccess('https://e/x?', TOKEN), `https://e/x?access=${TOKEN}`);
  assert.equal(withAccess('https://e/x#top', TOKEN), `https://e/x?access=${TOKEN}#top`);
  assert.equal(withAccess('https://e/x', 'a+b/c='), 'https://e/x?access=a%2Bb%2Fc%3D');
});

test('a task\'s capability links: self, updates, events, results and input, each with the token', () => {
  const links = capabilityLinks(base, '0186f2a4c1000001', TOKEN);
  assert.deepEqual(links, {
    self: { href: `https://errand.example.org/task/0186f2a4c1000001?access=${TOKEN}` },
    updates: { href: `wss://errand.example.org/task/0186f2a4c1000001/updates?access=${TOKEN}` },
    events: { href: `https://errand.example.org/task/0186f2a4c1000001/events?access=${TOKEN}` },
    results: { href: `https://errand.example.org/task/0186f2a4c1000001/results?access=${TOKEN}` },
    task: { href: `https://errand.example.org/task/0186f2a4c1000001/task?access=${TOKEN}` },
  });
  for (const { href } of Object.values(links)) assert.equal(new URL(href).searchParams.get(CAPABILITY_PARAM), TOKEN);
});

test('a description\'s _links gain the token on every read link and lose cancel', () => {
  const running = describeTask(base, { id: '0186f2a4c1000001', service: 'echo', status: 'running', hasScript: true });
  const links = linksWithAccess(running._links, TOKEN);
  assert.deepEqual(Object.keys(links).sort(), ['events', 'script', 'self', 'task', 'updates']);
  for (const { href } of Object.values(links)) assert.ok(href.endsWith(`?access=${TOKEN}`), href);
  assert.ok(running._links.cancel, 'the original is untouched');
  const done = describeTask(base, { id: '0186f2a4c1000001', service: 'echo', status: 'done' });
  assert.equal(linksWithAccess(done._links, TOKEN).results?.href, `https://errand.example.org/task/0186f2a4c1000001/results?access=${TOKEN}`);
});

test('tokens are redacted from URLs before they are logged', () => {
  assert.equal(redactAccess(`/task/1?access=${TOKEN}`), '/task/1?access=[redacted]');
  assert.equal(redactAccess(`/task/1/events?x=1&access=${TOKEN}&y=2#f`), '/task/1/events?x=1&access=[redacted]&y=2#f');
  assert.equal(redactAccess('/task/1?noaccess=1'), '/task/1?noaccess=1');
});

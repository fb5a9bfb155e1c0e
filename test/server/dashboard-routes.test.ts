/**
 * How the dashboard is served (issue 15): the shell at / (Patavi's key check still answered), its
 * bundle by version, and a task's address opening the page in a browser while programs get JSON.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pathToRoot, wantsPage } from '../../src/server/routes/dashboard.ts';
import { embeddedBackend } from '../support/backends.ts';
import type { Backend } from '../support/backends.ts';
import { ensureBuilt } from '../support/build.ts';
import { bearer, createKeys } from '../support/access.ts';
import { echo } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

const HTML = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
let backend: Backend;
let stack: Stack;
let keys: Record<string, string>;

before(async () => {
  ensureBuilt();
  backend = await embeddedBackend.create();
  stack = await startStack(backend, { services: [echo()], settings: { auth: { required: true } } });
  keys = await createKeys(backend.store, [['alice', 'alice-page', { scopes: ['submit', 'read'] }]]);
});
after(async () => {
  await stack?.close();
  await backend?.close();
});

test('the path back to the root from any address', () => {
  assert.equal(pathToRoot('/'), '');
  assert.equal(pathToRoot('/index.html'), '');
  assert.equal(pathToRoot('/task/0123456789abcdef'), '../');
  assert.equal(pathToRoot('/task/0123456789abcdef/?x=/a/b'), '../../');
  assert.equal(pathToRoot('/access/tok/task/0123456789abcdef'), '../../../');
  assert.equal(wantsPage(HTML.accept), true);
  assert.equal(wantsPage('*/*'), false);
  assert.equal(wantsPage('application/json, text/html'), false);
  assert.equal(wantsPage(undefined), false);
});

test('GET / is the shell for anyone or a good key, 401 for a bad key (Patavi\'s health check)', async () => {
  const shell = await fetch(`${stack.baseUrl}/`);
  assert.equal(shell.status, 200);
  // Its own script and styles only: nothing inline, nothing from elsewhere, no framing, no eval.
  const csp = shell.headers.get('content-security-policy')!;
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) assert.ok(csp.includes(directive), csp);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(shell.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(shell.headers.get('referrer-policy'), 'no-referrer');
  assert.equal((await fetch(`${stack.baseUrl}/`, { headers: bearer(keys.alice!) })).status, 200);
  const bad = await fetch(`${stack.baseUrl}/`, { headers: bearer('errand_notakeynotakeynotakeynotakeynotakeynotake') });
  assert.equal(bad.status, 401);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'unauthorized');
});

test('a task address asked for HTML is the shell; asked for JSON it is the task, and both vary on Accept', async () => {
  const submitted = await fetch(`${stack.baseUrl}/task?service=echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(keys.alice!) }, body: '{}' });
  const task = (await submitted.json()) as { id: string; _links: { self: { href: string } } };
  const page = await fetch(`${stack.baseUrl}/task/${task.id}`, { headers: HTML });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.match(page.headers.get('vary')!, /Accept/);
  assert.match(await page.text(), /src="\.\.\/dashboard\/app\.js\?v=/);
  const json = await fetch(`${stack.baseUrl}/task/${task.id}`, { headers: bearer(keys.alice!) });
  assert.equal(((await json.json()) as { id: string }).id, task.id);
  assert.match(json.headers.get('vary') ?? '', /Accept/);
  // A task link (with its access token) opens the same page, its assets found from three levels down.
  const link = task._links.self.href;
  assert.match(link, /\/access\/[^/]+\/task\//);
  const linked = await fetch(link, { headers: HTML });
  assert.match(await linked.text(), /src="\.\.\/\.\.\/\.\.\/dashboard\/app\.js\?v=/);
  const data = await fetch(link);
  assert.equal(((await data.json()) as { id: string }).id, task.id);
});

/** `npm start` (errand dev): the newcomer's path, on the embedded backends, as a real process. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { mkdir } from 'node:fs/promises';
import { WebSocket } from 'ws';
import { postTask, watchUpdates } from '../support/http.ts';
import { spawnErrand } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { eventually } from '../support/wait.ts';
import { describeWithR } from '../support/r.ts';

let dataDir: string;
before(async () => { dataDir = await mkdtemp(join(tmpdir(), 'errand-dev-')); });
after(async () => { await rm(dataDir, { recursive: true, force: true }); });

async function startDev(...more: string[]): Promise<{ dev: RunningErrand; base: string }> {
  const dev = spawnErrand(['dev', '--port', '0', '--data-dir', dataDir, ...more]);
  // The banner's last line: the lines before it may arrive in separate pipe reads.
  await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 60_000);
  const match = /Open (\S+)\//.exec(dev.output());
  assert.ok(match, dev.output());
  return { dev, base: match[1]! };
}

// The bundled examples include R services: the dev experience is checked with them all running.
void describeWithR('errand dev with the bundled examples', () => {
  test('errand dev prints where its data is, the URL, and a curl line that works', async () => {
    const { dev, base } = await startDev();
    try {
      const out = dev.output();
      assert.ok(out.includes(`data in ${dataDir} (PGlite)`), out);
      assert.match(out, /Services: echo, regression, slow, wordcount/);
      const curl = /curl -si -X POST '([^']+)' -H 'content-type: application\/json' -d '([^']+)'/.exec(out);
      assert.ok(curl, out);
      const response = await fetch(curl[1]!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ duration: 0.2 }) });
      assert.equal(response.status, 201);
      const task = (await response.json()) as { _links: { updates: { href: string } } };
      const updates = await watchUpdates(task._links.updates.href);
      assert.ok(updates.messages.some((m) => m.eventType === 'progress'));
      assert.equal(updates.messages.at(-1)!.eventType, 'done');
      assert.equal((await fetch(`${base}/`)).status, 200);
    } finally {
      await dev.stop();
    }
  });

  test('tasks left unfinished by a stopped dev process run when it starts again', async () => {
    let { dev, base } = await startDev();
    // Far longer than the test: still unfinished however slowly the second start goes. That one
    // stops it when the test stops it, instead of waiting for it.
    const { json } = await postTask(base, 'slow', { duration: 600, silent: true });
    await dev.stop('SIGKILL');
    ({ dev, base } = await startDev('--stop-grace', '0'));
    try {
      assert.match(dev.output(), /re-queued 1 unfinished task/);
      // Still there after the restart, and running again (the slow task is stopped before it ends).
      const task = (await (await fetch(`${base}/task/${json.id}`)).json()) as { status: string };
      assert.ok(['queued', 'running'].includes(task.status), task.status);
    } finally {
      await dev.stop();
    }
  });
});

// CORS and browsers (issue 12): the dashboard works whether it is opened as 127.0.0.1 or localhost,
// and no other page may use the API. No services needed: a folder of none.
test('errand dev allows its own origins, as 127.0.0.1 and as localhost, and refuses others', async () => {
  const services = join(dataDir, 'no-services');
  await mkdir(services, { recursive: true });
  const dev = spawnErrand(['dev', '--port', '0', '--data-dir', join(dataDir, 'cors'), '--services', services]);
  try {
    await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 60_000);
    const base = /Open (\S+)\//.exec(dev.output())?.[1];
    assert.ok(base, dev.output());
    const port = new URL(base).port;
    const handshake = (origin: string): Promise<number> => new Promise((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/events`, { origin });
      socket.once('upgrade', () => { resolve(101); socket.terminate(); });
      socket.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); socket.terminate(); });
      socket.once('error', reject);
    });
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const preflight: Response = await fetch(`${base}/task?service=echo`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      assert.equal(preflight.status, 200, origin);
      assert.equal(preflight.headers.get('access-control-allow-origin'), origin);
      assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(await handshake(origin), 101, origin);
    }
    const foreign = await fetch(`${base}/task?service=echo`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(foreign.status, 403);
    assert.equal(((await foreign.json()) as { error: { code: string } }).error.code, 'forbidden_origin');
    assert.equal(await handshake('https://evil.example'), 403);
  } finally {
    await dev.stop();
  }
});

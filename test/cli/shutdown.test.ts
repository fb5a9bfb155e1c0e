/**
 * A refused WebSocket upgrade once left its socket open (CLOSE-WAIT): a few hundred of them and
 * SIGTERM never finished. `errand dev` as a real process, stopped after a burst of them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { spawnErrand } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { rawRequest, upgradeRequest } from '../support/raw-http.ts';
import { eventually } from '../support/wait.ts';

const SERVICES = fileURLToPath(new URL('../fixtures/services/', import.meta.url));

let dataDir: string;
let dev: RunningErrand | undefined;
before(async () => { dataDir = await mkdtemp(join(tmpdir(), 'errand-shutdown-')); });
after(async () => {
  if (dev && dev.child.exitCode === null && dev.child.signalCode === null) await dev.stop('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

test('errand dev exits on SIGTERM after 200 refused WebSocket upgrades', async () => {
  dev = spawnErrand(['dev', '--port', '0', '--data-dir', dataDir, '--services', SERVICES]);
  await eventually(() => dev!.output().includes('Ctrl-C stops') || dev!.child.exitCode !== null, 'errand dev to print its banner', 60_000);
  const match = /Open http:\/\/[^:]+:(\d+)\//.exec(dev.output());
  assert.ok(match, dev.output());
  const port = Number(match[1]);
  const paths = ['/task/%ff/updates', '/events%zz', `/task/${'a'.repeat(300)}/updates`];
  for (let i = 0; i < 200; i++) {
    const response = await rawRequest(port, upgradeRequest(paths[i % paths.length]!), { untilAnswer: true });
    assert.ok([400, 404, 414].includes(response.status), response.raw);
  }
  dev.child.kill('SIGTERM');
  // Only turns a hang into a failure: before the fix the process was still running 10 minutes later.
  const exit = await Promise.race([dev.exited, eventually(() => false, 'errand dev to exit after SIGTERM', 30_000)]);
  assert.deepEqual(exit, { code: 0, signal: null }, dev.output().slice(-2000));
});

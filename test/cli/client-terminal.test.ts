/**
 * `errand submit --follow` in a real terminal (a tmux pane): the progress bar with the script's
 * message and time left is drawn and redrawn, and Ctrl-C asks whether to cancel the task: "n"
 * goes on watching, "y" cancels it (the service sees its signal), Ctrl-C at the question leaves
 * the task running.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../../src/client/index.ts';
import type { ErrandClient } from '../../src/client/index.ts';
import { embeddedBackend } from '../support/backends.ts';
import type { Backend } from '../support/backends.ts';
import { ensureBuilt } from '../support/build.ts';
import { ERRAND_BIN } from '../support/processes.ts';
import { service } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { openPane } from '../support/tmux.ts';
import type { Pane } from '../support/tmux.ts';

let backend: Backend;
let stack: Stack;
let client: ErrandClient;
let dir: string;
const stopped: string[] = [];
const panes: Pane[] = [];

/** Counts to 100 in steps of 1, 300 ms apart, with a message; stops when canceled. */
const countdown = service('countdown', async (_input, ctx) => {
  for (let i = 1; i <= 100; i++) {
    if (ctx.signal.aborted) {
      stopped.push(ctx.taskId);
      throw new Error('stopped');
    }
    ctx.progress({ progress: i, message: `step ${i} of 100` });
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return { counted: 100 };
}, 4);

before(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'errand-tty-'));
  await writeFile(join(dir, 'input.json'), '{}');
  backend = await embeddedBackend.create();
  stack = await startStack(backend, { services: [countdown] });
  client = createClient(stack.baseUrl);
});

after(async () => {
  for (const pane of panes) await pane.close();
  await stack?.close();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

async function follow(): Promise<{ pane: Pane; id: string }> {
  const pane = await openPane(`ERRAND_URL=${stack.baseUrl} ${process.execPath} ${ERRAND_BIN} submit countdown ${join(dir, 'input.json')} --follow`);
  panes.push(pane);
  const [, id] = await pane.waitFor(/task ([0-9a-f]{16}) \(countdown\) queued/);
  return { pane, id: id! };
}

test('the progress bar shows percent, time left, elapsed and the script\'s message, and moves', async () => {
  const { pane, id } = await follow();
  const first = await pane.waitFor(/\[(#+)-+\] +(\d+)% \S+ left · \d+s step (\d+) of 100/);
  await pane.waitFor(new RegExp(`step (${Number(first[3]) + 2}|${Number(first[3]) + 3}|${Number(first[3]) + 4}) of 100`));
  // One line, redrawn in place: the bar never scrolls the screen.
  assert.equal((await pane.screen()).split('\n').filter((line) => /% .* left/.test(line)).length, 1);
  await client.cancel(id);
  await pane.waitFor(/EXIT=1/);
});

test('Ctrl-C asks; "n" goes on watching; Ctrl-C and "y" cancel the task, whose service is stopped', async () => {
  const { pane, id } = await follow();
  await pane.waitFor(/step \d+ of 100/);
  await pane.keys('C-c');
  await pane.waitFor(new RegExp(`Cancel task ${id}\\? \\[y/N\\]`));
  await pane.keys('n', 'Enter');
  await pane.waitFor(/still watching task/);
  assert.equal((await client.get(id)).status, 'running');
  const before = Number((await pane.waitFor(/step (\d+) of 100/))[1]);
  await pane.waitFor(new RegExp(`step (${before + 2}|${before + 3}|${before + 4}) of 100`));

  await pane.keys('C-c');
  await pane.waitFor(new RegExp(`Cancel task ${id}\\? \\[y/N\\]\\s*$`, 'm'));
  await pane.keys('y', 'Enter');
  await pane.waitFor(new RegExp(`canceling task ${id}`));
  await pane.waitFor(/EXIT=130/);
  assert.match(await pane.screen(), new RegExp(`task ${id} canceled: canceled`));
  assert.equal((await client.get(id)).status, 'canceled');
  while (!stopped.includes(id)) await new Promise((resolve) => setTimeout(resolve, 50));
});

test('Ctrl-C at the question leaves the task running and says how to follow or stop it', async () => {
  const { pane, id } = await follow();
  await pane.waitFor(/step \d+ of 100/);
  await pane.keys('C-c');
  await pane.waitFor(/Cancel task [0-9a-f]{16}\? \[y\/N\]/);
  await pane.keys('C-c');
  await pane.waitFor(/EXIT=130/);
  assert.match(await pane.screen(), new RegExp(`left task ${id} running; .errand watch ${id}. follows it again`));
  assert.equal((await client.get(id)).status, 'running');
  await client.cancel(id);
});

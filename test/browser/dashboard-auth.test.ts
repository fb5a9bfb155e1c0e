/**
 * The dashboard with authentication on (issue 15), in Debian's Chromium: the page asks for a key
 * once, then lists only that principal's tasks, live over a WebSocket signed in by subprotocol; a
 * key that is not accepted is said so; a task link opens its task's page with no sign-in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { createClient } from '../../src/client/index.ts';
import { embeddedBackend } from '../support/backends.ts';
import type { Backend } from '../support/backends.ts';
import { describeWithBrowser, launchBrowser, screenshotPath } from '../support/browser.ts';
import { ensureBuilt } from '../support/build.ts';
import { createKeys } from '../support/access.ts';
import { echo, steps } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

describeWithBrowser('the dashboard with authentication on', () => {
  let backend: Backend;
  let stack: Stack;
  let keys: Record<string, string>;
  let browser: Browser;

  before(async () => {
    ensureBuilt();
    backend = await embeddedBackend.create();
    stack = await startStack(backend, { services: [echo(), steps()], settings: { auth: { required: true } } });
    keys = await createKeys(backend.store, [['alice', 'alice-browser', { scopes: ['submit', 'read', 'cancel'] }], ['bob', 'bob-browser', { scopes: ['submit', 'read'] }]]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
    await backend?.close();
  });

  test('sign in with a key: only your own tasks, kept live; a wrong key is refused', async () => {
    const alice = createClient({ url: stack.baseUrl, key: keys.alice! });
    const bob = createClient({ url: stack.baseUrl, key: keys.bob! });
    const alices = await Promise.all([1, 2].map((i) => alice.submit('echo', { i })));
    const bobs = await bob.submit('echo', { bob: true });

    const page = await browser.newPage();
    await page.goto(`${stack.baseUrl}/`);
    await page.waitForSelector('input[name=key]');
    await page.fill('input[name=key]', 'errand_notakeynotakeynotakeynotakeynotakeynotake');
    await page.click('.sign-in button[type=submit]');
    await page.waitForSelector('.sign-in [role=alert]:has-text("not accepted")');

    await page.fill('input[name=key]', keys.alice!);
    await page.click('.sign-in button[type=submit]');
    for (const task of alices) await page.waitForSelector(`[data-testid=task-row][data-task="${task.id}"]`);
    await page.waitForSelector('[data-testid=connection]:has-text("live")');
    // A task alice submits now arrives over the socket (signed in by subprotocol); bob's never does.
    const later = await alice.submit('steps', { pauseMs: 1 });
    const bobLater = await bob.submit('echo', { later: true });
    await page.waitForSelector(`[data-testid=task-row][data-task="${later.id}"][data-status=done]`);
    const shown = await page.$$eval('[data-testid=task-row]', (rows) => rows.map((row) => (row as HTMLElement).dataset.task!));
    assert.deepEqual(shown.sort(), [...alices.map((t) => t.id), later.id].sort());
    assert.ok(!shown.includes(bobs.id) && !shown.includes(bobLater.id));
    // The key stays for the tab: a reload does not ask again.
    await page.reload();
    await page.waitForSelector(`[data-testid=task-row][data-task="${later.id}"]`);
    await page.close();
  });

  test('a task link opens the task\'s page with no sign-in, without cancel or delete', async () => {
    const bob = createClient({ url: stack.baseUrl, key: keys.bob! });
    const task = await bob.submit('steps', { file: true, pauseMs: 1 });
    await bob.wait(task.id);
    const link = (await bob.get(task.id))._links.self.href;
    assert.match(link, /\/access\/[^/]+\/task\//);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    await page.waitForSelector(`[data-testid=task-page][data-task="${task.id}"][data-status=done]`);
    await page.waitForSelector('[data-testid=result-file][data-file="plot.svg"] img');
    // An SVG is shown from a data: URL; the download is a blob a browser will not render as a page
    // (a blob: URL has the dashboard's origin).
    assert.match((await page.getAttribute('[data-testid=result-file][data-file="plot.svg"] img', 'src')) ?? '', /^data:image\/svg\+xml;base64,/);
    const href = (await page.getAttribute('[data-testid=result-file][data-file="plot.svg"] a', 'href'))!;
    assert.match(href, /^blob:/);
    // Opened in a tab of its own, the link is a download, never a page.
    const tab = await context.newPage();
    const [download] = await Promise.all([tab.waitForEvent('download'), tab.goto(href).catch(() => undefined)]);
    assert.ok(download);
    await tab.close();
    assert.equal(await page.$('input[name=key]'), null, 'no sign-in');
    assert.equal(await page.$('button:has-text("Cancel")'), null);
    assert.equal(await page.$('button:has-text("Delete")'), null);
    await page.screenshot({ path: screenshotPath('task-link') });
    await context.close();
  });
});

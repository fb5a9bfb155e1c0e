/**
 * The dashboard in a real browser (Debian's Chromium, playwright-core) against `errand dev`, the
 * embedded default with its bundled R services, as a real process (issue 15): submit through the
 * form made from the input schema, watch progress arrive and the result render with its plot,
 * cancel a running task, filter the list, follow 100 tasks a second, and carry on after the server
 * restarts with no task missed or shown twice. Screenshots of the main pages are saved under
 * test-output/screenshots.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createClient } from '../../src/client/index.ts';
import type { ErrandClient } from '../../src/client/index.ts';
import { describeWithBrowser, launchBrowser, screenshotPath } from '../support/browser.ts';
import { freePort, spawnErrand, stopAll } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { rUnavailable } from '../support/r.ts';
import { eventually } from '../support/wait.ts';

const noR = await rUnavailable();
if (noR && process.env.CI === 'true') throw new Error(`R is required in CI: ${noR}`);

describeWithBrowser('the dashboard against errand dev', () => {
  let dir: string;
  let port: number;
  let dev: RunningErrand;
  let base: string;
  let client: ErrandClient;
  let browser: Browser;

  async function startDev(): Promise<void> {
    dev = spawnErrand(['dev', '--port', String(port), '--data-dir', join(dir, 'data')]);
    await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 60_000);
    assert.equal(dev.child.exitCode, null, dev.output());
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'errand-browser-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    await startDev();
    client = createClient(base);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stopAll([dev]);
    await rm(dir, { recursive: true, force: true });
  });

  async function open(hash: string, viewport = { width: 1200, height: 900 }): Promise<Page> {
    const page = await browser.newPage({ viewport });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    (page as Page & { problems?: string[] }).problems = problems;
    await page.goto(`${base}/${hash}`);
    return page;
  }
  const rowIds = (page: Page) => page.$$eval('[data-testid=task-row]', (rows) => rows.map((row) => (row as HTMLElement).dataset.task!));

  test('submit through the generated form: checked before sending, then progress arrives and the result renders with its plot', { skip: noR }, async () => {
    const page = await open('#/submit/slow');
    await page.waitForSelector('[data-testid=submit-form] input[name=duration]');
    // Out of the schema's range: refused on the page, nothing sent.
    await page.fill('input[name=duration]', '99999');
    await page.click('[data-testid=submit-form] button[type=submit]');
    await page.waitForSelector('.field.invalid .problem');
    assert.match((await page.textContent('.field.invalid')) ?? '', /duration/);
    assert.match(page.url(), /#\/submit\/slow$/);

    await page.fill('input[name=duration]', '3');
    await page.click('[data-testid=submit-form] button[type=submit]');
    await page.waitForURL(/#\/task\/[0-9a-f]{16}$/);
    const id = /#\/task\/([0-9a-f]{16})$/.exec(page.url())![1]!;
    // Live progress with a percent and the script's message, before the end.
    const progress = await page.waitForSelector('[data-testid=task-page] [data-testid=progress]');
    await page.waitForFunction(() => /\d+% .*step \d+ of 100/.test(document.querySelector('[data-testid=task-page] [data-testid=progress]')?.textContent ?? ''));
    assert.ok(progress);
    // What the script prints shows while it runs.
    await page.waitForFunction(() => /25 steps done/.test(document.querySelector('[data-testid=console]')?.textContent ?? ''));
    assert.match((await page.textContent('h2:has-text("Console")')) ?? '', /live/);
    await page.screenshot({ path: screenshotPath('task-running') });
    await page.waitForSelector('[data-testid=task-page][data-status=done]', { timeout: 60_000 });
    const plot = await page.waitForSelector('[data-testid=result-file][data-file="duration.png"] img');
    await page.waitForFunction((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0, plot);
    assert.match((await page.textContent('[data-testid=json-tree]')) ?? '', /"duration.png"/);
    assert.equal((await client.get(id)).status, 'done');
    assert.deepEqual((page as Page & { problems?: string[] }).problems, []);
    await page.close();
  });

  test('a regression\'s page: coefficients, the diagnostic plot and R\'s console (screenshot)', { skip: noR }, async () => {
    const page = await open('#/submit/regression');
    await page.waitForSelector('[data-testid=submit-form] input[name=formula]');
    await page.click('[data-testid=submit-form] button[type=submit]');
    await page.waitForSelector('[data-testid=task-page][data-status=done]', { timeout: 60_000 });
    const plot = await page.waitForSelector('[data-testid=result-file][data-file="diagnostics.png"] img');
    await page.waitForFunction((img) => (img as HTMLImageElement).naturalWidth > 0, plot);
    await page.waitForSelector('[data-testid=console]');
    assert.match((await page.textContent('[data-testid=console]')) ?? '', /Residual standard error/);
    await page.screenshot({ path: screenshotPath('task-done-regression'), fullPage: true });
    await page.goto(`${base}/#/submit/regression`);
    await page.waitForSelector('[data-testid=submit-form]');
    await page.screenshot({ path: screenshotPath('submit-form') });
    await page.close();
  });

  test('cancel a running task from its page; a failed R task shows its error', { skip: noR }, async () => {
    const task = await client.submit('slow', { duration: 120, silent: true });
    const page = await open(`#/task/${task.id}`);
    await page.waitForSelector('[data-testid=task-page][data-status=running]', { timeout: 60_000 });
    await page.click('button:has-text("Cancel")');
    await page.waitForSelector('[data-testid=task-page][data-status=canceled]');
    assert.equal((await client.get(task.id)).status, 'canceled');

    const failing = await client.submit('slow', { duration: 0.1, fail: true });
    await page.goto(`${base}/#/task/${failing.id}`);
    await page.waitForSelector('[data-testid=task-page][data-status=failed]', { timeout: 60_000 });
    assert.match((await page.textContent('[data-testid=task-error]')) ?? '', /r_error.*params\$fail was TRUE/s);
    await page.close();
  });

  test('filter the list by service and status; a CSV result as a table; run again and delete; the services page; a phone-sized screen', async () => {
    const echoTask = await client.submit('echo', { list: 1 });
    const other = await client.submit('wordcount', { text: 'one two two' });
    await client.wait(echoTask.id);
    await client.wait(other.id);
    const page = await open('#/tasks');
    await page.waitForSelector(`[data-testid=task-row][data-task="${echoTask.id}"]`);
    await page.waitForSelector(`[data-testid=task-row][data-task="${other.id}"]`);
    await page.screenshot({ path: screenshotPath('tasks') });
    await page.selectOption('[data-testid=filters] select[name=service]', 'echo');
    await page.waitForURL(/service=echo/);
    // The other services' tasks (submitted by the tests before) leave the list once it is read again.
    await page.waitForFunction((id) => {
      const rows = [...document.querySelectorAll('[data-testid=task-row]')] as HTMLElement[];
      return rows.some((row) => row.dataset.task === id) && rows.every((row) => row.querySelector('td:nth-child(2)')?.textContent === 'echo');
    }, echoTask.id);
    assert.ok(!(await rowIds(page)).includes(other.id), 'the wordcount task is filtered out');
    await page.click('[data-testid=filters] button:has-text("failed")');
    await page.waitForURL(/status=failed/);
    await page.waitForSelector('[data-testid=no-tasks]');

    await page.goto(`${base}/#/services`);
    await page.waitForSelector('[data-testid=service][data-service=regression]');
    await page.waitForSelector('[data-testid=workers]');
    await page.screenshot({ path: screenshotPath('services'), fullPage: true });

    // A CSV result file as a table; "run again" opens the form with the input as it was written; delete.
    await page.goto(`${base}/#/task/${other.id}`);
    await page.waitForSelector('[data-testid=result-file][data-file="counts.csv"] [data-testid=csv-table]');
    assert.match((await page.textContent('[data-testid=csv-table]')) ?? '', /two\s*2/);
    await page.click('button:has-text("Run again")');
    await page.waitForURL(new RegExp(`#/submit/wordcount\\?from=${other.id}$`));
    await page.waitForSelector('textarea[name=input]');
    assert.equal(await page.inputValue('textarea[name=input]'), '{"text":"one two two"}');
    await page.goto(`${base}/#/task/${other.id}`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('button:has-text("Delete")');
    await page.waitForURL(/#\/tasks$/);
    await assert.rejects(client.get(other.id), /not_found|no task/);

    const phone = await open('#/tasks', { width: 390, height: 844 });
    await phone.waitForSelector('[data-testid=task-row]');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone's screen`);
    await phone.screenshot({ path: screenshotPath('tasks-phone') });
    await phone.close();
    await page.close();
  });

  test('100 tasks a second arriving: the list keeps up, newest first, each task once, at most a page', async () => {
    const page = await open('#/tasks?service=echo');
    await page.waitForSelector('[data-testid=task-list], [data-testid=no-tasks]');
    await page.waitForSelector('[data-testid=connection]:has-text("live")');
    const ids: string[] = [];
    for (let second = 0; second < 3; second++) {
      const batch = await Promise.all(Array.from({ length: 100 }, (_, i) => client.submit('echo', { second, i })));
      ids.push(...batch.map((t) => t.id));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const newest = [...ids].sort().reverse().slice(0, 50);
    await page.waitForFunction((wanted) => {
      const rows = [...document.querySelectorAll('[data-testid=task-row]')] as HTMLElement[];
      return wanted.every((id) => rows.some((r) => r.dataset.task === id && r.dataset.status === 'done'));
    }, newest, { timeout: 60_000 });
    const shown = await rowIds(page);
    assert.equal(new Set(shown).size, shown.length, 'no task twice');
    assert.equal(shown.length, 50, 'one page');
    assert.deepEqual(shown, newest, 'the newest, newest first');
    await page.close();
  });

  test('the server restarts: the list resumes from its last event, nothing missed, nothing twice', { skip: noR }, async () => {
    const page = await open('#/tasks');
    await page.waitForSelector('[data-testid=connection]:has-text("live")');
    const before = await Promise.all([1, 2, 3].map((i) => client.submit('echo', { before: i })));
    // Still running when the server stops: queued again when it starts, and done after.
    const across = await client.submit('slow', { duration: 4, silent: true });
    for (const task of [...before, across]) await page.waitForSelector(`[data-testid=task-row][data-task="${task.id}"]`);
    await eventually(async () => (await client.get(across.id)).status === 'running', 'the slow task to start', 60_000);

    dev.child.kill('SIGTERM');
    await dev.exited;
    await page.waitForSelector('[data-testid=connection]:has-text("reconnecting")');
    await startDev();
    await page.waitForSelector('[data-testid=connection]:has-text("live")', { timeout: 30_000 });
    const afterRestart = await Promise.all([1, 2, 3].map((i) => client.submit('echo', { after: i })));
    for (const task of afterRestart) await page.waitForSelector(`[data-testid=task-row][data-task="${task.id}"][data-status=done]`);
    // Its end came while the page was reconnecting or after: the row shows it.
    await page.waitForSelector(`[data-testid=task-row][data-task="${across.id}"][data-status=done]`, { timeout: 90_000 });
    const shown = await rowIds(page);
    assert.equal(new Set(shown).size, shown.length, `no task twice: ${shown.join(',')}`);
    for (const task of [...before, across, ...afterRestart]) assert.ok(shown.includes(task.id), `${task.id} listed`);
    await page.close();
  });
});

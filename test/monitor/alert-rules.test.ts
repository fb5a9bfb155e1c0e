/**
 * docs/operations.md's alert rules (issue 14) agree with the metrics: every metric name they use
 * is one a server, recorder or worker exports (as registered by the same code the roles run), and,
 * where promtool is installed, Prometheus accepts the rules and they fire on sample series as
 * described (and not for services that are fine).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { createMetrics, createReadiness, executorMetrics, lostWorkerCounts, readinessMetrics } from '../../src/monitor/index.ts';
import type { Backend } from '../support/backends.ts';
import { embeddedBackend } from '../support/backends.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

const run = promisify(execFile);
const DOCS = new URL('../../docs/operations.md', import.meta.url);

/** The YAML block under "### Alert rules". */
async function alertRules(): Promise<string> {
  const text = await readFile(DOCS, 'utf8');
  const section = text.slice(text.indexOf('### Alert rules'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'no yaml block under "### Alert rules"');
  return block[1]!;
}

let backend: Backend;
let stack: Stack;
/** Every errand_* series name the roles export (histograms as their _bucket, _sum and _count). */
const exported = new Set<string>();
before(async () => {
  backend = await embeddedBackend.create();
  const metrics = createMetrics({ role: 'test', version: '0.0.0-test', maxServices: 10 });
  // What serve (with its recorder and janitor) and a worker register, through the same functions.
  readinessMetrics(metrics, createReadiness({ timeoutMs: 1000, role: 'test' }));
  lostWorkerCounts(metrics);
  executorMetrics(metrics, []);
  stack = await startStack(backend, { metrics });
  for (const metric of metrics.registry.getMetricsAsArray() as unknown as Array<{ get(): Promise<{ name: string; type: string }> }>) {
    const { name, type } = await metric.get();
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix);
    else exported.add(name);
  }
});
after(async () => {
  await stack.close();
  await backend.close();
});

test('every metric the alert rules use is exported, and the rules cover the failures the issue names', async () => {
  const rules = await alertRules();
  const exprs = [...rules.matchAll(/^\s*expr: (.*)$/gm)].map((m) => m[1]!);
  const used = new Set(exprs.flatMap((expr) => [...expr.matchAll(/\berrand_[a-z0-9_]+/g)].map((m) => m[0])));
  const unknown = [...used].filter((name) => !exported.has(name));
  assert.deepEqual(unknown, [], `rules use metrics nobody exports: ${unknown.join(', ')}`);
  for (const name of ['errand_service_queue_depth', 'errand_service_consumers', 'errand_service_estimated_wait_seconds', 'errand_service_target_wait_seconds', 'errand_lost_worker_tasks_total', 'errand_event_delivery_lag_seconds_bucket']) {
    assert.ok(used.has(name), `no rule uses ${name}`);
  }
  const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  for (const alert of ['ErrandNoConsumers', 'ErrandWaitAboveTarget', 'ErrandLostWorkers', 'ErrandEventLag']) assert.ok(alerts.includes(alert), alert);
});

/** promtool's unit tests of the rules, in JSON (which YAML reads): series every minute, and what must fire when. */
function ruleTests(rulesFile: string): object {
  const s = (service: string, instance = 'server-1') => `{service="${service}",instance="${instance}",job="errand"}`;
  return {
    rule_files: [rulesFile],
    evaluation_interval: '1m',
    tests: [{
      interval: '1m',
      input_series: [
        // slow: a task queued and no consumer, on both servers; quick: busy but consumed; idle: offline with nothing queued.
        { series: `errand_service_queue_depth${s('slow')}`, values: '1x40' },
        { series: `errand_service_queue_depth${s('slow', 'server-2')}`, values: '1x40' },
        { series: `errand_service_consumers${s('slow')}`, values: '0x40' },
        { series: `errand_service_consumers${s('slow', 'server-2')}`, values: '0x40' },
        { series: `errand_service_queue_depth${s('quick')}`, values: '30x40' },
        { series: `errand_service_consumers${s('quick')}`, values: '1x40' },
        { series: `errand_service_queue_depth${s('idle')}`, values: '0x40' },
        { series: `errand_service_consumers${s('idle')}`, values: '0x40' },
        // quick: a task submitted now would wait 90 s against a target of 60; 6 slots needed, 4 there.
        { series: `errand_service_estimated_wait_seconds${s('quick')}`, values: '90x40' },
        { series: `errand_service_target_wait_seconds${s('quick')}`, values: '60x40' },
        { series: `errand_service_slots_needed${s('quick')}`, values: '6x40' },
        { series: `errand_service_worker_slots${s('quick')}`, values: '4x40' },
        // idle: no wait, slots enough.
        { series: `errand_service_estimated_wait_seconds${s('idle')}`, values: '0x40' },
        { series: `errand_service_target_wait_seconds${s('idle')}`, values: '60x40' },
        { series: `errand_service_slots_needed${s('idle')}`, values: '1x40' },
        { series: `errand_service_worker_slots${s('idle')}`, values: '2x40' },
        // A task of quick failed worker_lost at minute 10.
        { series: '{__name__="errand_lost_worker_tasks_total",service="quick",outcome="failed",instance="recorder-1",job="errand"}', values: '0x9 1x30' },
        // Every event delivered between 2.5 and 5 s after its time.
        { series: '{__name__="errand_event_delivery_lag_seconds_bucket",le="2.5",instance="server-1",job="errand"}', values: '0x40' },
        { series: '{__name__="errand_event_delivery_lag_seconds_bucket",le="5",instance="server-1",job="errand"}', values: '0+10x40' },
        { series: '{__name__="errand_event_delivery_lag_seconds_bucket",le="+Inf",instance="server-1",job="errand"}', values: '0+10x40' },
        { series: '{__name__="errand_workers_flagged",instance="server-1",job="errand"}', values: '2x40' },
        { series: '{__name__="errand_service_stats_errors_total",service="broken",instance="server-1",job="errand"}', values: '0+1x40' },
      ],
      alert_rule_test: [
        { eval_time: '1m', alertname: 'ErrandNoConsumers', exp_alerts: [] },
        {
          eval_time: '5m', alertname: 'ErrandNoConsumers',
          exp_alerts: [{ exp_labels: { service: 'slow', severity: 'page' }, exp_annotations: { summary: 'slow: 1 task(s) queued and no worker consuming' } }],
        },
        {
          eval_time: '15m', alertname: 'ErrandWaitAboveTarget',
          exp_alerts: [{ exp_labels: { service: 'quick', severity: 'ticket' }, exp_annotations: { summary: 'quick: a task submitted now would wait 1m 30s' } }],
        },
        {
          eval_time: '35m', alertname: 'ErrandTooFewSlots',
          exp_alerts: [{ exp_labels: { service: 'quick', severity: 'ticket' }, exp_annotations: { summary: 'quick: 6 slots needed for the target wait' } }],
        },
        { eval_time: '12m', alertname: 'ErrandTasksFailedWorkerLost', exp_alerts: [{ exp_labels: { service: 'quick', severity: 'page' } }] },
        { eval_time: '12m', alertname: 'ErrandEventLag', exp_alerts: [{ exp_labels: { instance: 'server-1', severity: 'ticket' } }] },
        { eval_time: '35m', alertname: 'ErrandWorkerVersionsDiffer', exp_alerts: [{ exp_labels: { severity: 'ticket' } }] },
        { eval_time: '25m', alertname: 'ErrandServiceFiguresUnreadable', exp_alerts: [{ exp_labels: { service: 'broken', severity: 'ticket' } }] },
      ],
    }],
  };
}

test('promtool accepts the rules, and they fire on sample series as described', async (t) => {
  const found = await run('promtool', ['--version']).then(() => true, () => false);
  if (!found) {
    // In CI every suite runs: .ci/run installs it.
    if (process.env.CI === 'true') assert.fail('promtool is not installed (Debian: apt-get install prometheus); CI must run the rules');
    t.skip('promtool is not installed (Debian: apt-get install prometheus): the rules were not run');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'errand-rules-'));
  try {
    await writeFile(join(dir, 'errand.rules.yml'), await alertRules());
    await run('promtool', ['check', 'rules', join(dir, 'errand.rules.yml')]);
    await writeFile(join(dir, 'errand.rules.test.yml'), JSON.stringify(ruleTests('errand.rules.yml'), null, 2));
    const result = await run('promtool', ['test', 'rules', join(dir, 'errand.rules.test.yml')], { cwd: dir }).catch((err: { stdout?: string; stderr?: string }) => {
      assert.fail(`promtool test rules failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    assert.match(result.stdout, /SUCCESS/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

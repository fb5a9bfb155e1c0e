/** The capacity figures on /metrics (issue 14): their flags' defaults, variables, and what they refuse, naming the flag. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfig, USAGE } from '../../src/cli/config.ts';
import { serverSettings } from '../../src/cli/serve.ts';
import { ErrandError } from '../../src/core/index.ts';
import { SERVICE_METRICS_DEFAULTS } from '../../src/monitor/index.ts';

const serve = ['serve', '--public-url', 'http://errand.test'];

test('--metrics-stats-concurrency and --metrics-stats-max-age have defaults, flags and variables, and reach the server settings', () => {
  const { config } = readConfig(serve, {});
  assert.deepEqual(serverSettings(config).metricsStats, SERVICE_METRICS_DEFAULTS);
  const set = readConfig([...serve, '--metrics-stats-concurrency', '16'], { ERRAND_METRICS_STATS_MAX_AGE: '0' }).config;
  assert.deepEqual(serverSettings(set).metricsStats, { concurrency: 16, maxAgeMs: 0 });
  for (const flag of ['--metrics-stats-concurrency', '--metrics-stats-max-age']) assert.match(USAGE, new RegExp(flag));
});

test('out-of-range or malformed values stop the command, naming the flag', () => {
  const refused = (args: string[], field: string) =>
    assert.throws(() => readConfig([...serve, ...args], {}), (err: ErrandError) => err instanceof ErrandError && err.field === field, args.join(' '));
  refused(['--metrics-stats-concurrency', '0'], 'metrics-stats-concurrency');
  refused(['--metrics-stats-concurrency', '65'], 'metrics-stats-concurrency');
  refused(['--metrics-stats-concurrency', 'four'], 'metrics-stats-concurrency');
  refused(['--metrics-stats-max-age=-1'], 'metrics-stats-max-age');
  refused(['--metrics-stats-max-age', '60001'], 'metrics-stats-max-age');
  refused(['--metrics-stats-max-age', '1s'], 'metrics-stats-max-age');
});

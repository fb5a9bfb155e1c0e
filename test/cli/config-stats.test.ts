/** Capacity figures' flags (issue 14): defaults, flags and variables, and what they refuse, naming the flag. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfig, USAGE } from '../../src/cli/config.ts';
import { serverSettings } from '../../src/cli/serve.ts';
import { ErrandError } from '../../src/core/index.ts';
import { DEFAULT_STATS_SETTINGS } from '../../src/server/service-stats.ts';

const serve = ['serve', '--public-url', 'http://errand.test'];

test('the stats sample and target wait have defaults, flags and variables, and reach the server settings', () => {
  const { config } = readConfig(serve, {});
  assert.deepEqual(config.stats, DEFAULT_STATS_SETTINGS);
  assert.deepEqual(serverSettings(config).stats, DEFAULT_STATS_SETTINGS);
  const set = readConfig([...serve, '--stats-sample', '200', '--stats-target-wait', 'PT30S'], { ERRAND_STATS_SAMPLE_AGE: 'PT6H' }).config;
  assert.deepEqual(set.stats, { sampleSize: 200, sampleAge: 'PT6H', sampleAgeSeconds: 21_600, targetWait: 'PT30S', targetWaitSeconds: 30 });
  for (const flag of ['--stats-sample', '--stats-sample-age', '--stats-target-wait']) assert.match(USAGE, new RegExp(flag));
});

test('out-of-range or malformed stats flags stop the command, naming the flag', () => {
  const refused = (args: string[], field: string) =>
    assert.throws(() => readConfig([...serve, ...args], {}), (err: ErrandError) => err.field === field, args.join(' '));
  refused(['--stats-sample', '0'], 'stats-sample');
  refused(['--stats-sample', '100001'], 'stats-sample');
  refused(['--stats-sample-age', 'PT59S'], 'stats-sample-age');
  refused(['--stats-sample-age', 'P31D'], 'stats-sample-age');
  refused(['--stats-sample-age', 'a day'], 'stats-sample-age');
  refused(['--stats-target-wait', 'PT0S'], 'stats-target-wait');
  refused(['--stats-target-wait', '60'], 'stats-target-wait');
});

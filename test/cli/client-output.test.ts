/**
 * What the client commands draw and decide without a server: the progress line (never wider than
 * the terminal, a script's control characters neutralised), the state it shows after each event,
 * which linked result files `--out` may write (plain names only), and the `tasks` filters.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventLine, nextState } from '../../src/cli/client/follow.ts';
import { printableText as printableConsole } from '../../src/cli/client/printable.ts';
import { taskErrorText } from '../../src/cli/client/format.ts';
import { progressMessage, renderProgressLine, shortDuration } from '../../src/cli/client/progress-line.ts';
import { linkedFiles } from '../../src/cli/client/results.ts';
import { isPlainFileName as isPlainName } from '../../src/client/index.ts';
import { parseClientArgs, taskFilter, UsageError } from '../../src/cli/client/commands.ts';
import type { TaskEvent } from '../../src/client/index.ts';

const event = (type: TaskEvent['type'], data: Record<string, unknown> = {}): TaskEvent => ({ id: 1, taskId: '0123456789abcdef', service: 's', type, data, at: '2026-12-01T00:00:00Z' });

test('the progress line shows bar, percent, time left, elapsed and message, and never wraps', () => {
  const line = renderProgressLine({ status: 'running', percent: 40, etaSeconds: 75, message: 'fitting the model', elapsedSeconds: 50 }, 100);
  assert.match(line, /^\[#{12}-{18}\]  40% 1m15s left · 50s fitting the model$/);
  for (const columns of [0, 10, 20, 40, 80, 200]) {
    const text = renderProgressLine({ status: 'running', percent: 99.6, etaSeconds: 4000, message: 'm'.repeat(500), elapsedSeconds: 7200 }, columns);
    assert.ok([...text].length <= Math.max(20, columns) - 1, `fits ${columns} columns: ${text.length}`);
  }
  assert.match(renderProgressLine({ status: 'queued', elapsedSeconds: 3 }, 80), /^\[ +\] queued · 3s$/);
});

test('a message cannot move the cursor or clear the screen: control characters are shown as spaces', () => {
  const line = renderProgressLine({ status: 'running', percent: 10, message: 'a\x1b[2J\rb\nc\u009b', elapsedSeconds: 1 }, 120);
  assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f]/);
  assert.match(line, /a \[2J b c $/);
  assert.doesNotMatch(eventLine(event('progress', { value: { message: 'x\x1by' } }), { status: 'running', message: 'x\x1by', elapsedSeconds: 0 }), /\x1b/);
});

test('progress messages by convention, durations in short form', () => {
  assert.equal(progressMessage({ progress: 3, message: 'step 3' }), 'step 3');
  assert.equal(progressMessage('half way'), 'half way');
  assert.equal(progressMessage({ progress: 3 }), undefined);
  assert.equal(progressMessage([1, 'x']), undefined);
  assert.deepEqual([0, 59.4, 60, 3599, 3600, 7322].map(shortDuration), ['0s', '59s', '1m00s', '59m59s', '1h00m', '2h02m']);
});

test('the state after each event: percent and message kept until replaced, 100 % at done', () => {
  let state = nextState({ status: 'queued', elapsedSeconds: 0 }, event('started', { attempt: 1 }));
  assert.equal(state.status, 'running');
  state = nextState(state, event('progress', { value: { progress: 30, message: 'loading' }, percent: 30, etaSeconds: 7 }));
  assert.deepEqual({ percent: state.percent, eta: state.etaSeconds, message: state.message }, { percent: 30, eta: 7, message: 'loading' });
  state = nextState(state, event('progress', { value: 'no number' }));
  assert.deepEqual({ percent: state.percent, message: state.message }, { percent: 30, message: 'no number' });
  assert.equal(nextState(state, event('done')).percent, 100);
  assert.equal(nextState(state, event('failed', { error: { code: 'r_error' } })).status, 'failed');
  assert.match(nextState(state, event('retried', { attempt: 2 })).message!, /attempt 2/);
});

test('--out writes only plain file names an index links, each once', () => {
  const index = { plot: { href: 'plot.png' }, again: [{ href: 'plot.png' }, { href: 'table.csv' }], nested: { deep: { href: 'x.txt' } },
    bad: [{ href: '../etc/passwd' }, { href: '/etc/passwd' }, { href: 'a/b.png' }, { href: 'https://example.org/x.png' }, { href: '..' }, { href: 'c:\\x' }, { href: 42 }] };
  assert.deepEqual(linkedFiles(index).sort(), ['plot.png', 'table.csv', 'x.txt']);
  assert.equal(isPlainName('résumé plot.png'), true);
  assert.equal(isPlainName(''), false);
  assert.deepEqual(linkedFiles('just a string'), []);
});

test('tasks filters and argument errors', () => {
  const { values } = parseClientArgs('tasks', ['--service', 'slow', '--status', 'failed', '--status', 'expired', '--created-since', '2026-12-01T00:00:00Z', '--limit', '5']);
  assert.deepEqual(taskFilter(values), { limit: 5, service: 'slow', status: ['failed', 'expired'], createdSince: '2026-12-01T00:00:00Z' });
  assert.throws(() => taskFilter(parseClientArgs('tasks', ['--limit', 'lots']).values), UsageError);
  assert.throws(() => parseClientArgs('tasks', ['--colour']), (err: unknown) => err instanceof UsageError && /colour/.test(err.message));
  assert.throws(() => parseClientArgs('task', []), (err: unknown) => err instanceof UsageError && /ID/.test(err.message));
  assert.throws(() => parseClientArgs('submit', ['a', 'b', 'c']), (err: unknown) => err instanceof UsageError && /"c"/.test(err.message));
});

test('console output keeps its lines and tabs, and cannot drive the terminal', () => {
  assert.equal(printableConsole('a\tb\r\nc\n'), 'a\tb\nc\n');
  assert.equal(printableConsole('x\x1b[2J\x1b]0;title\x07y\rz'), 'x [2J ]0;title y z');
  const state = { status: 'running', percent: 40, elapsedSeconds: 1 };
  assert.deepEqual(nextState(state, event('console', { text: 'hello' })), state, 'output changes nothing on the line');
});

test('an error a script chose is printed without its control characters', () => {
  const text = taskErrorText({ id: '0123456789abcdef', service: 's', status: 'failed', _links: { self: { href: 'x' } },
    error: { code: 'r_error', message: 'boom\x1b]52;c;Y2xpcA==\x07', detail: { call: 'f(\x1b[2J)', traceback: ['g()\u009b31m'] } } });
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  assert.match(text, /boom \]52;c;Y2xpcA== /);
});

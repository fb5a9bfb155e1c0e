import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RESULT_LIMITS, resultFileNameProblem, resultFilesError, resultSizeError } from '../../src/core/index.ts';

test('a result file name is one printable path segment of at most 255 bytes', () => {
  for (const good of ['plot.png', 'r\u00e9sum\u00e9 "final" 100%.txt', '.hidden', 'a..b', '\u{1F600}.txt', 'x'.repeat(255), '\u00e9'.repeat(127)]) {
    assert.equal(resultFileNameProblem(good), undefined, good);
  }
  const bad: Array<[string, RegExp]> = [
    ['', /empty/], ['.', /"\." or "\.\."/], ['..', /"\." or "\.\."/], ['a/b', /"\/"/], ['a\\b', /"\\"/],
    ['nul\u0000', /control/], ['tab\t', /control/], ['new\nline', /control/], ['del\u007f', /control/], ['c1\u0085', /control/], ['c1\u009f', /control/],
    ['lone\ud800', /Unicode/], ['\udc00lone', /Unicode/], ['x'.repeat(256), /255 bytes/], ['\u00e9'.repeat(128), /not 256/],
  ];
  for (const [name, why] of bad) assert.match(resultFileNameProblem(name) ?? 'accepted', why, JSON.stringify(name));
  assert.equal(resultFileNameProblem(42 as unknown as string), 'must be a string');
});

test('a result over a bound is result_too_large with the bound in the message; a bad or repeated name invalid_result', () => {
  const limits = { maxFiles: 2, maxFileBytes: 10, maxResultBytes: 15 };
  const file = (name: string, bytes: number) => ({ name, content: Buffer.alloc(bytes) });
  assert.equal(resultFilesError([file('a', 10), file('b', 5)], limits), undefined);
  assert.deepEqual(resultFilesError([file('a', 1), file('b', 1), file('c', 1)], limits), { code: 'result_too_large', message: 'the result has 3 files, over the limit of 2 files (--max-result-files)' });
  assert.match(resultFilesError([file('a', 11)], limits)!.message, /"a" is 11 bytes, over the limit of 10 bytes per file/);
  assert.match(resultFilesError([file('a', 10), file('b', 6)], limits)!.message, /16 bytes, over the limit of 15 bytes per result/);
  assert.deepEqual(resultFilesError([file('..', 1)], limits), { code: 'invalid_result', message: 'result file name ".." must not be "." or ".."' });
  assert.equal(resultFilesError([file('a', 1), file('a', 1)], limits)!.code, 'invalid_result');
  assert.equal(resultSizeError(DEFAULT_RESULT_LIMITS.maxResultBytes, DEFAULT_RESULT_LIMITS), undefined);
  assert.equal(resultSizeError(DEFAULT_RESULT_LIMITS.maxResultBytes + 1, DEFAULT_RESULT_LIMITS)!.code, 'result_too_large');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrandError, normaliseOrigin, originOf, parseOriginList } from '../../src/core/index.ts';

test('an origin is normalised as a browser sends it: lower case, no default port, no trailing slash, punycode', () => {
  assert.equal(normaliseOrigin('https://App.Example.org'), 'https://app.example.org');
  assert.equal(normaliseOrigin(' https://app.example.org:443/ '), 'https://app.example.org');
  assert.equal(normaliseOrigin('http://localhost:5173'), 'http://localhost:5173');
  assert.equal(normaliseOrigin('http://app.example:80'), 'http://app.example');
  assert.equal(normaliseOrigin('https://bücher.example'), 'https://xn--bcher-kva.example');
  assert.equal(normaliseOrigin('http://[::1]:8080'), 'http://[::1]:8080');
});

test('what is not scheme://host[:port] is refused in one line naming the flag', () => {
  for (const bad of ['null', 'NULL', '*.example.org', 'app.example.org', 'https://app.example/path', 'https://app.example/.', 'https://app.example/?x=1', 'https://app.example?', 'https://app.example#top', 'https://user@app.example', 'ftp://app.example', 'file:///tmp/x', 'https://app.example:99999', '']) {
    assert.throws(() => normaliseOrigin(bad), (err: unknown) => err instanceof ErrandError && err.field === 'cors-origin' && err.message.startsWith('--cors-origin') && !err.message.includes('\n'), bad);
  }
});

test('a list: repeated values and commas add up, duplicates go, * is a separate switch', () => {
  assert.deepEqual(parseOriginList([]), { origins: [], any: false });
  assert.deepEqual(parseOriginList(['']), { origins: [], any: false });
  assert.deepEqual(parseOriginList(['https://a.example, https://B.example', 'https://a.example/']), { origins: ['https://a.example', 'https://b.example'], any: false });
  assert.deepEqual(parseOriginList(['*']), { origins: [], any: true });
  assert.deepEqual(parseOriginList(['*,https://a.example']), { origins: ['https://a.example'], any: true });
  assert.throws(() => parseOriginList(['https://a.example,null']), ErrandError);
});

test('the origin of a base URL', () => {
  assert.equal(originOf('https://errand.example.org/api/'), 'https://errand.example.org');
  assert.equal(originOf('http://127.0.0.1:3000'), 'http://127.0.0.1:3000');
  assert.equal(originOf('not a url'), undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createOriginPolicy } from '../../src/server/origin-policy.ts';

test('listed and own origins are allowed; `*` lets others read; `null` and the rest are refused', () => {
  const policy = createOriginPolicy({ list: { origins: ['https://app.example'], any: false }, publicUrl: 'https://errand.example.org/base' });
  assert.equal(policy.access(undefined), 'none');
  assert.equal(policy.access('https://app.example'), 'allowed');
  assert.equal(policy.access('https://errand.example.org'), 'allowed');
  assert.equal(policy.access('https://evil.example'), 'refused');
  assert.equal(policy.access('null'), 'refused');
  // With a public URL, the listening address is not the server's own origin.
  policy.listening('https://errand.example.org', 3000);
  assert.equal(policy.access('http://127.0.0.1:3000'), 'refused');
  const any = createOriginPolicy({ list: { origins: [], any: true } });
  assert.equal(any.access('https://evil.example'), 'any');
  assert.equal(any.access('null'), 'refused');
  assert.equal(any.access(''), 'refused');
});

test('without a public URL the listening address is the own origin; dev adds both its local names', () => {
  const plain = createOriginPolicy({ list: { origins: [], any: false } });
  plain.listening('http://127.0.0.1:4321', 4321);
  assert.equal(plain.access('http://127.0.0.1:4321'), 'allowed');
  assert.equal(plain.access('http://localhost:4321'), 'refused');
  const dev = createOriginPolicy({ list: { origins: [], any: false }, ownAddresses: true });
  dev.listening('http://localhost:4321', 4321);
  assert.equal(dev.access('http://127.0.0.1:4321'), 'allowed');
  assert.equal(dev.access('http://localhost:4321'), 'allowed');
  assert.equal(dev.access('http://localhost:4322'), 'refused');
});

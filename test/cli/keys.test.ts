/**
 * `errand keys` as an operator runs it (issue 12): against a fresh PostgreSQL database, the key
 * printed once on the last line is the one servers accept; list never shows a key or hash.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashApiKey } from '../../src/core/index.ts';
import { createApiKeyVerifier } from '../../src/server/index.ts';
import { connectPostgres, createSqlStore } from '../../src/store/index.ts';
import type { Store } from '../../src/store/index.ts';
import { createTestDatabase, describeEachBackend, realBackend } from '../support/backends.ts';
import { spawnErrand } from '../support/processes.ts';

/** Runs `errand keys ...` to its end; the output and exit code. */
async function keys(databaseUrl: string, ...args: string[]): Promise<{ code: number | null; output: string }> {
  const run = spawnErrand(['keys', ...args, '--database-url', databaseUrl]);
  const { code } = await run.exited;
  return { code, output: run.output() };
}

await describeEachBackend('errand keys', () => {
  let database: { url: string; drop(): Promise<void> };
  let store: Store;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => {
    await store?.close();
    await database.drop();
  });

  test('a database whose schema is behind is refused, saying what to run', async () => {
    const run = await keys(database.url, 'list');
    assert.equal(run.code, 1);
    assert.match(run.output, /^errand: the database at .* needs migrations \(.*011_task_list\): run `errand migrate` or pass --migrate\n$/);
  });

  test('create prints the key once, alone on the last line; servers accept it as key:<name> with its scopes', async () => {
    const created = await keys(database.url, 'create', 'web-app', '--scope', 'submit:echo', '--scope', 'read', '--expires', 'P90D', '--migrate');
    assert.equal(created.code, 0, created.output);
    const lines = created.output.trimEnd().split('\n');
    const key = lines.at(-1)!;
    assert.match(key, /^errand_[A-Za-z0-9_-]{43}$/);
    assert.ok(created.output.endsWith(`\n${key}\n`));
    assert.match(created.output, /created key "web-app": principal key:web-app, scopes submit:echo read, expires \d{4}-\d\d-\d\dT/);
    assert.equal(created.output.split(key).length, 2, 'the key appears once');

    store = createSqlStore(await connectPostgres({ url: database.url, poolSize: 2 }));
    const verifier = createApiKeyVerifier(store, { cacheMs: 0 });
    const principal = await verifier.verify(key);
    assert.equal(principal?.id, 'key:web-app');
    assert.deepEqual([...principal!.scopes], ['submit', 'read']);
    assert.deepEqual([...principal!.services!], ['echo']);

    const listed = await keys(database.url, 'list');
    assert.equal(listed.code, 0, listed.output);
    const [header, row, ...others] = listed.output.trimEnd().split('\n');
    assert.match(header!, /^NAME\s+STATUS\s+CREATED\s+EXPIRES\s+REVOKED\s+LAST-USED\s+SCOPES$/);
    assert.match(row!, /^web-app\s+live\s+\d{4}-\S+Z\s+\d{4}-\S+Z\s+-\s+\d{4}-\S+Z\s+submit:echo read$/);
    assert.deepEqual(others, []);
    assert.ok(!listed.output.includes(key.slice('errand_'.length, 20)), 'no part of the key');
    assert.ok(!listed.output.includes(hashApiKey(key).slice(0, 16)), 'no part of its hash');

    const revoked = await keys(database.url, 'revoke', 'web-app');
    assert.equal(revoked.code, 0, revoked.output);
    assert.match(revoked.output, /^revoked key "web-app" \(principal key:web-app\); servers refuse it within their --api-key-cache\n$/);
    assert.equal(await verifier.verify(key), undefined);
    assert.match((await keys(database.url, 'list')).output, /\nweb-app\s+revoked\s/);
  });

  test('mistakes are one line and exit 1: duplicate name, unknown scope, no scope, unknown key, bad name or expiry', async () => {
    assert.equal((await keys(database.url, 'create', 'ci', '--scope', 'admin')).code, 0);
    const cases: Array<[string[], RegExp]> = [
      [['create', 'ci', '--scope', 'read'], /^errand: a key named "ci" already exists and is not revoked; revoke it first or choose another name\n$/],
      [['create', 'other', '--scope', 'write'], /^errand: unknown scope "write"; scopes are submit, read, read:all, cancel, admin and submit:<service>\[,<service>\.\.\.\]\n$/],
      [['create', 'other'], /^errand: keys create needs at least one --scope [^\n]*\n$/],
      [['create', 'a b', '--scope', 'read'], /^errand: key name "a b" must be [^\n]*\n$/],
      [['create', 'other', '--scope', 'read', '--expires', 'tomorrow'], /^errand: --expires must be an ISO 8601 duration [^\n]*\n$/],
      [['create', 'other', '--scope', 'read', '--expires', '2001-01-01T00:00:00Z'], /^errand: --expires 2001-01-01T00:00:00Z is not in the future\n$/],
      [['revoke', 'nobody'], /^errand: no key named "nobody" that is not already revoked \(errand keys list shows them\)\n$/],
      [['revoke'], /^errand: keys revoke takes one NAME, got none [^\n]*\n$/],
      [['rotate', 'ci'], /^errand: unknown keys subcommand "rotate": errand keys create NAME [^\n]*\n$/],
    ];
    for (const [args, expected] of cases) {
      const run = await keys(database.url, ...args);
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.output, expected);
    }
    // None of them made a key.
    const names = (await store.listApiKeys()).map((k) => k.name);
    assert.deepEqual(names.sort(), ['ci', 'web-app']);
  });
}, [realBackend]);

/**
 * `errand keys`: API keys in PostgreSQL (issue 12). `keys create NAME --scope S ... [--expires X]`
 * prints the new key once, alone on the last line (`| tail -n 1` takes it); only its SHA-256 is
 * stored. `keys list` shows names, scopes and dates, never a key or hash. `keys revoke NAME`.
 */
import { apiKeyNameProblem, apiKeyPrincipalId, ErrandError, hashApiKey, newApiKey, parseKeyExpiry, parseScopes } from '../core/index.ts';
import type { KeyExpiry } from '../core/index.ts';
import type { ApiKeyInfo, ApiKeys } from '../store/index.ts';
import type { Config } from './config.ts';
import { createLogger, openPostgresStore } from './lifecycle.ts';

const USAGE_LINE = 'errand keys create NAME --scope SCOPE [--scope SCOPE ...] [--expires DURATION|TIME] | errand keys list | errand keys revoke NAME';

type Action =
  | { kind: 'create'; name: string; scopes: string[]; expires: KeyExpiry | null }
  | { kind: 'list' }
  | { kind: 'revoke'; name: string };

/** Reads the command line in full before anything connects: a mistake costs no database. */
export function parseKeysCommand(rest: string[], config: Pick<Config, 'scopes' | 'expires'>, now = new Date()): Action {
  const [action, ...args] = rest;
  const oneName = (): string => {
    if (args.length !== 1) throw new ErrandError('invalid_field', `keys ${action} takes one NAME, got ${args.length === 0 ? 'none' : args.map((a) => JSON.stringify(a)).join(' ')} (${USAGE_LINE})`, 'name');
    const problem = apiKeyNameProblem(args[0]!);
    if (problem) throw new ErrandError('invalid_field', problem, 'name');
    return args[0]!;
  };
  switch (action) {
    case 'create': {
      const name = oneName();
      const scopes = [...new Set(config.scopes.flatMap((s) => s.split(/\s+/)).filter(Boolean))];
      if (parseScopes(scopes).scopes.length === 0) {
        throw new ErrandError('missing_field', `keys create needs at least one --scope (submit, submit:SERVICE, read, read:all, cancel, admin)`, 'scope');
      }
      return { kind: 'create', name, scopes, expires: config.expires === undefined ? null : parseKeyExpiry(config.expires, now) };
    }
    case 'list':
      if (args.length > 0) throw new ErrandError('invalid_field', `keys list takes no arguments (${USAGE_LINE})`);
      return { kind: 'list' };
    case 'revoke':
      return { kind: 'revoke', name: oneName() };
    default:
      throw new ErrandError('invalid_field', `${action === undefined ? 'keys needs a subcommand' : `unknown keys subcommand ${JSON.stringify(action)}`}: ${USAGE_LINE}`);
  }
}

export async function keys(config: Config, rest: string[], print: (line: string) => void = console.log): Promise<void> {
  const action = parseKeysCommand(rest, config);
  const store = await openPostgresStore(config, createLogger(config, 'errand-keys'), 2);
  try {
    await run(store, action, print);
  } finally {
    await store.close();
  }
}

async function run(store: ApiKeys, action: Action, print: (line: string) => void): Promise<void> {
  if (action.kind === 'create') {
    const key = newApiKey();
    const info = await store.createApiKey({ name: action.name, scopes: action.scopes, secretSha256: hashApiKey(key), expires: action.expires });
    print(`created key ${JSON.stringify(info.name)}: principal ${apiKeyPrincipalId(info.name)}, scopes ${info.scopes.join(' ')}, expires ${time(info.expiresAt) ?? 'never'}`);
    print('the key follows; it is shown only this once (Errand keeps only its hash):');
    print(key);
    return;
  }
  if (action.kind === 'revoke') {
    const info = await store.revokeApiKey(action.name);
    if (!info) throw new ErrandError('not_found', `no key named ${JSON.stringify(action.name)} that is not already revoked (errand keys list shows them)`, 'name');
    print(`revoked key ${JSON.stringify(info.name)} (principal ${apiKeyPrincipalId(info.name)}); servers refuse it within their --api-key-cache`);
    return;
  }
  const all = await store.listApiKeys();
  if (all.length === 0) {
    print('no keys (errand keys create NAME --scope SCOPE makes one)');
    return;
  }
  for (const line of table(all, Date.now())) print(line);
}

const time = (date: Date | null): string | undefined => date?.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Columns padded with spaces; scopes last, since they are separated by spaces themselves. */
function table(keys: ApiKeyInfo[], now: number): string[] {
  const status = (k: ApiKeyInfo): string => (k.revokedAt ? 'revoked' : k.expiresAt && k.expiresAt.getTime() <= now ? 'expired' : 'live');
  const rows = [
    ['NAME', 'STATUS', 'CREATED', 'EXPIRES', 'REVOKED', 'LAST-USED', 'SCOPES'],
    ...keys.map((k) => [k.name, status(k), time(k.createdAt)!, time(k.expiresAt) ?? '-', time(k.revokedAt) ?? '-', time(k.lastUsedAt) ?? '-', k.scopes.join(' ')]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

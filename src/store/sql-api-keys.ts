/**
 * API keys in SQL (issue 12, 007_api_keys.sql). The table holds each key's SHA-256, never the key;
 * nothing here returns the hash either.
 */
import { ErrandError } from '../core/index.ts';
import type { SqlQueryable } from './sql-client.ts';
import { DatabaseError } from './sql-errors.ts';
import type { ApiKeyInfo, NewApiKey } from './store.ts';

interface ApiKeyRow {
  name: string; scopes: string[]; created_at: Date; expires_at: Date | null; revoked_at: Date | null; last_used_at: Date | null;
}

const COLUMNS = 'name, scopes, created_at, expires_at, revoked_at, last_used_at';

const date = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    name: row.name, scopes: [...row.scopes], createdAt: new Date(row.created_at),
    expiresAt: date(row.expires_at), revokedAt: date(row.revoked_at), lastUsedAt: date(row.last_used_at),
  };
}

/** A refusal by the index that keeps live names unique (the only constraint a new key can break). */
function isNameTaken(err: unknown): boolean {
  return err instanceof DatabaseError && err.refusal === 'constraint' && (err.constraint === 'api_key_live_name' || err.message.includes('api_key_live_name'));
}

export async function createApiKey(q: SqlQueryable, key: NewApiKey): Promise<ApiKeyInfo> {
  const at = key.expires && 'at' in key.expires ? key.expires.at.toISOString() : null;
  const after = key.expires && 'after' in key.expires ? key.expires.after : null;
  try {
    const rows = await q.query<ApiKeyRow>(
      `INSERT INTO api_key (name, scopes, secret_sha256, expires_at)
       VALUES ($1, $2::text[], $3, coalesce($4::timestamptz, now() + $5::interval))
       RETURNING ${COLUMNS}`,
      [key.name, key.scopes, key.secretSha256, at, after],
    );
    return toInfo(rows.rows[0]!);
  } catch (err) {
    if (isNameTaken(err)) {
      throw new ErrandError('conflict', `a key named ${JSON.stringify(key.name)} already exists and is not revoked; revoke it first or choose another name`, 'name', { cause: err });
    }
    throw err;
  }
}

export async function listApiKeys(q: SqlQueryable): Promise<ApiKeyInfo[]> {
  const rows = await q.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_key ORDER BY created_at, id`);
  return rows.rows.map(toInfo);
}

export async function revokeApiKey(q: SqlQueryable, name: string): Promise<ApiKeyInfo | undefined> {
  const rows = await q.query<ApiKeyRow>(
    `UPDATE api_key SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
    [name],
  );
  return rows.rows[0] && toInfo(rows.rows[0]);
}

/**
 * One statement: finds the key and stamps a live one as used. Servers call it only when their cache
 * does not know the key, so it writes at most once per key, server and cache period.
 */
export async function useApiKey(q: SqlQueryable, secretSha256: string): Promise<ApiKeyInfo | undefined> {
  const rows = await q.query<ApiKeyRow>(
    `UPDATE api_key SET last_used_at = CASE
       WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) THEN now() ELSE last_used_at END
     WHERE secret_sha256 = $1
     RETURNING ${COLUMNS}`,
    [secretSha256],
  );
  return rows.rows[0] && toInfo(rows.rows[0]);
}

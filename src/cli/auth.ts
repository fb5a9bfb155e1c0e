/**
 * Who may do what (issue 12), as the commands configure it. `errand serve` asks every caller for a
 * credential unless --no-auth says otherwise, and will not start without some way to give one.
 * `errand dev` is open (it listens on localhost) unless a credential mode is given.
 */
import { ErrandError } from '../core/index.ts';
import type { AuthSettings } from '../server/index.ts';
import type { Store } from '../store/index.ts';
import type { Config } from './config.ts';

/** A credential mode given on the command line (stored keys are looked for in the database). */
export function credentialFlags(config: Config): string[] {
  return [
    ...(config.apiKey !== undefined ? ['--api-key'] : []),
    ...(config.jwt !== undefined ? ['--jwt-jwks-url/--jwt-key-file'] : []),
    ...(config.clientCaFile !== undefined ? ['--client-ca'] : []),
  ];
}

/** --no-auth with a credential flag is a contradiction, not a choice between them (serve and dev alike). */
export function refuseContradiction(config: Config): void {
  const flags = credentialFlags(config);
  if (config.noAuth && flags.length > 0) {
    throw new ErrandError('invalid_field', `--no-auth serves everyone without credentials, yet ${flags.join(' and ')} ${flags.length > 1 ? 'are' : 'is'} given: drop one or the other`, 'no-auth');
  }
}

export function authSettings(config: Config, required: boolean): AuthSettings {
  return {
    required,
    ...(config.apiKey !== undefined ? { single: { key: config.apiKey, name: config.apiKeyName, scopes: config.apiKeyScopes } } : {}),
    ...(config.jwt !== undefined ? { jwt: config.jwt } : {}),
    apiKeyCacheMs: config.apiKeyCacheMs,
    apiKeyCacheSize: config.apiKeyCacheSize,
    pataviOpenReads: config.pataviOpenReads,
  };
}

/**
 * serve's settings, or the one-line reason it will not start: with authentication on, some way
 * to authenticate must exist (a flag, or a key made with `errand keys create`); --no-auth with a
 * credential flag is a contradiction, not a choice between them.
 */
export async function serveAuthSettings(config: Config, store: Pick<Store, 'listApiKeys'>, now = new Date()): Promise<AuthSettings> {
  const flags = credentialFlags(config);
  refuseContradiction(config);
  if (config.noAuth) return authSettings(config, false);
  if (flags.length === 0) {
    const live = (await store.listApiKeys()).filter((key) => key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now));
    if (live.length === 0) {
      throw new ErrandError('missing_field', 'serve will not start with no way to authenticate callers: create a key (errand keys create NAME --scope ...), give --api-key, --jwt-jwks-url, --jwt-key-file or --client-ca, or pass --no-auth to serve everyone without credentials', 'no-auth');
    }
  }
  return authSettings(config, true);
}

/**
 * Which browser origins may use the API (issue 12). A browser names the page that makes a request
 * in its `Origin` header; non-browser clients send none. The policy sorts an origin into:
 *
 *   none      no Origin: not a browser page (curl, Patavi's Node clients); CORS does not apply
 *   allowed   listed with --cors-origin, or the server's own (its public URL; `errand dev`: its
 *             addresses as 127.0.0.1 and localhost): CORS with credentials, writes, WebSockets
 *   any       not allowed, but `*` is listed: CORS reads without credentials, nothing more
 *   refused   anything else, and `null` (any sandboxed frame or file: page) even under `*`
 *
 * Only `allowed` reaches what a browser sends ambient credentials with (a client certificate,
 * cookies of a proxy in front): writes, which CORS does not stop (a form can POST anywhere), and
 * WebSockets, which CORS does not cover at all. Pure apart from learning the port once listening.
 */
import { originOf } from '../core/index.ts';
import type { OriginList } from '../core/index.ts';

export type OriginAccess = 'none' | 'allowed' | 'any' | 'refused';

export interface OriginPolicySettings {
  /** From --cors-origin: exact origins, and whether `*` is listed. */
  list: OriginList;
  /** The public URL (links are built from it); its origin is the server's own. */
  publicUrl?: string;
  /** `errand dev`: http://127.0.0.1:PORT and http://localhost:PORT are the server's own too. */
  ownAddresses?: boolean;
}

export interface OriginPolicy {
  access(origin: string | undefined): OriginAccess;
  /** The server listens at `baseUrl` (on `port`): without a public URL, its origin is the server's own. */
  listening(baseUrl: string, port: number): void;
}

export function createOriginPolicy(settings: OriginPolicySettings): OriginPolicy {
  const allowed = new Set(settings.list.origins);
  const publicOrigin = settings.publicUrl === undefined ? undefined : originOf(settings.publicUrl);
  if (publicOrigin !== undefined) allowed.add(publicOrigin);
  return {
    access(origin) {
      if (origin === undefined) return 'none';
      if (allowed.has(origin)) return 'allowed';
      // `null` is any sandboxed frame or file: page at all, and an empty Origin names nothing: never given even `*`.
      return settings.list.any && origin !== 'null' && origin !== '' ? 'any' : 'refused';
    },
    listening(baseUrl, port) {
      if (publicOrigin === undefined) {
        const own = originOf(baseUrl);
        if (own !== undefined) allowed.add(own);
      }
      if (settings.ownAddresses) for (const host of ['127.0.0.1', 'localhost']) allowed.add(`http://${host}:${port}`);
    },
  };
}

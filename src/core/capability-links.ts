/**
 * Capability links (issue 12): a task's URLs with its capability token in them, as handed to the
 * submitter, who passes them on to a browser. The token travels as the first segment pair of the
 * path, `<base>/access/<token>/task/<id>/...`, not in the query: a result index links its files by
 * hrefs relative to `<task url>/results/` (`{"href": "plot.png"}`), and a URL resolved against a
 * base that carries the token keeps it, where a query would be dropped.
 */
import type { Links } from './task.ts';

/** The path segment that precedes a token: `/access/<token>/...`. */
export const CAPABILITY_SEGMENT = 'access';

/** Link bases under which every URL carries `token`. */
export function accessBase(base: Links, token: string): Links {
  const segment = `/${CAPABILITY_SEGMENT}/${encodeURIComponent(token)}`;
  return { http: `${base.http}${segment}`, ws: `${base.ws}${segment}` };
}

const PREFIX = new RegExp(`^/${CAPABILITY_SEGMENT}/([^/?#]*)([/?][^]*)?$`);

/**
 * Splits a request target into its token and the target without it (`/access/T/task/1?x` gives
 * `T` and `/task/1?x`); undefined when it carries none. `/access/T` alone is the root, `/`.
 */
export function splitAccess(target: string): { token: string; rest: string } | undefined {
  const match = PREFIX.exec(target);
  if (!match) return undefined;
  const rest = match[2] ?? '/';
  return { token: match[1]!, rest: rest.startsWith('?') ? `/${rest}` : rest };
}

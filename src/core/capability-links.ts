/**
 * Capability links (issue 12): a task's URLs with its capability token in the query, as handed to
 * the submitter, who passes them on to a browser. Every link a capability may follow carries the
 * token; `cancel` is left out, since a capability only reads.
 */
import type { Href, Links, TaskDescription } from './task.ts';
import { resultsUrl, taskUrl } from './task.ts';

/** The query parameter a capability token travels in: `?access=<token>`. */
export const CAPABILITY_PARAM = 'access';

/** `href` with `access=<token>` added to its query (before any fragment). */
export function withAccess(href: string, token: string): string {
  const hash = href.indexOf('#');
  const [path, fragment] = hash === -1 ? [href, ''] : [href.slice(0, hash), href.slice(hash)];
  const separator = !path.includes('?') ? '?' : path.endsWith('?') || path.endsWith('&') ? '' : '&';
  return `${path}${separator}${CAPABILITY_PARAM}=${encodeURIComponent(token)}${fragment}`;
}

export interface CapabilityLinks {
  self: Href;
  /** Patavi's WebSocket of progress and the end message. */
  updates: Href;
  /** Server-sent events of the task, resumable with Last-Event-ID. */
  events: Href;
  results: Href;
  /** The task's input. */
  task: Href;
}

/**
 * The read links of task `id` carrying `token`, whatever the task's state (results answer 404
 * until it ends, as without a token).
 */
export function capabilityLinks(base: Links, id: string, token: string): CapabilityLinks {
  const self = taskUrl(base, id);
  return {
    self: { href: withAccess(self, token) },
    updates: { href: withAccess(`${base.ws}/task/${id}/updates`, token) },
    events: { href: withAccess(`${self}/events`, token) },
    results: { href: withAccess(resultsUrl(base, id), token) },
    task: { href: withAccess(`${self}/task`, token) },
  };
}

/** A task description's `_links` with the token on every link it may follow, and no `cancel`. */
export function linksWithAccess(links: TaskDescription['_links'], token: string): TaskDescription['_links'] {
  const out: Record<string, Href> = {};
  for (const [name, link] of Object.entries(links)) {
    if (name === 'cancel' || link === undefined) continue;
    out[name] = { ...link, href: withAccess(link.href, token) };
  }
  return out as TaskDescription['_links'];
}

/** `url` with any capability token replaced, safe to log: a token in a log is a read grant to its readers. */
export function redactAccess(url: string): string {
  return url.replace(new RegExp(`([?&]${CAPABILITY_PARAM}=)[^&#]*`, 'g'), '$1[redacted]');
}

/**
 * Completion callbacks (issue 14): which URLs a task may name (the operator's allowlist), how a
 * delivery is signed, and when a failed one is tried again. Pure; the deliverer is in
 * src/recorder/callbacks.ts, the HTTP request in src/recorder/callback-request.ts.
 *
 * Glossary:
 *   callback   a URL a submission names; Errand POSTs the task's description there once it ends
 *   attempt    one POST of it; it succeeds on a 2xx answer, anything else is tried again later
 *   allowlist  the hosts (`--callback-hosts`) callbacks may go to; none: callbacks are refused
 */
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import { ErrandError } from './errors.ts';
import { nonPublicAddress } from './addresses.ts';

/** One allowlisted host, as `--callback-hosts` gives it: `host`, `host:port`, `https://host[:port]`, `http://host[:port]`. */
export interface CallbackHost {
  /** Lower case; an IPv6 address without its brackets. */
  host: string;
  /** Only this port; undefined: the scheme's default (443, or 80 for plain http). */
  port: number | undefined;
  /** Plain http is allowed: the entry says `http://`, or the host is loopback. */
  plainHttp: boolean;
  /** The host may resolve to (or is) an address off the public internet: it is an IP address or `localhost`, named as such. */
  privateAllowed: boolean;
}

export interface CallbackAllowlist {
  hosts: CallbackHost[];
  /** `--callback-allow-private`: names may resolve to private addresses too (an internal receiver). */
  allowPrivate: boolean;
}

export const NO_CALLBACKS: CallbackAllowlist = { hosts: [], allowPrivate: false };

/** A callback URL longer than this is refused: it is stored with the task and shown back. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/** What an entry or URL's host is once parsed: lower case, IPv6 without brackets. */
function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || (isIP(host) !== 0 && nonPublicAddress(host) === 'loopback');
}

/** Parses the allowlist; each value may hold several entries separated by commas or spaces. */
export function parseCallbackHosts(values: string[], allowPrivate = false): CallbackAllowlist {
  const hosts: CallbackHost[] = [];
  for (const entry of values.flatMap((v) => v.split(/[\s,]+/)).filter(Boolean)) {
    const bad = (why: string): ErrandError => new ErrandError('invalid_field', `--callback-hosts entry ${JSON.stringify(entry)} ${why}; give host, host:port, https://host[:port] or http://host[:port]`, 'callback-hosts');
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(entry)?.[1]?.toLowerCase();
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') throw bad(`has the scheme ${scheme}`);
    let url: URL;
    try {
      url = new URL(scheme === undefined ? `https://${entry}` : entry);
    } catch {
      throw bad('is not a host');
    }
    if (url.username || url.password) throw bad('holds a user name or password');
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || /[/?#]$/.test(entry.replace(/^[a-z]+:\/\//i, ''))) throw bad('holds a path, query or fragment');
    const host = bareHost(url.hostname);
    if (host.includes('*')) throw bad('holds a wildcard (name each host)');
    hosts.push({
      host,
      port: url.port === '' ? undefined : Number(url.port),
      plainHttp: scheme === 'http' || isLoopbackHost(host),
      privateAllowed: isIP(host) !== 0 || host === 'localhost',
    });
  }
  return { hosts, allowPrivate };
}

const DEFAULT_PORT: Record<string, number> = { 'https:': 443, 'http:': 80 };

/** The allowlist entry `url` falls under, or undefined. */
export function callbackHostOf(url: URL, allowlist: CallbackAllowlist): CallbackHost | undefined {
  const host = bareHost(url.hostname);
  const port = url.port === '' ? DEFAULT_PORT[url.protocol] : Number(url.port);
  return allowlist.hosts.find((entry) => entry.host === host && (entry.port ?? DEFAULT_PORT[url.protocol]) === port);
}

/**
 * A submission's `callback`: the URL as it will be called (normalised), or an ErrandError naming
 * the field. Names are resolved only when a delivery is made (see the deliverer), so a name that
 * resolves to a private address is refused then, not here.
 */
export function checkCallbackUrl(text: string, allowlist: CallbackAllowlist): string {
  const refuse = (why: string): ErrandError => new ErrandError('invalid_field', `callback ${why}`, 'callback');
  if (allowlist.hosts.length === 0) throw refuse('is not accepted by this server: it allows callbacks to no host (see --callback-hosts)');
  if (text.length > MAX_CALLBACK_URL_LENGTH) throw refuse(`must be at most ${MAX_CALLBACK_URL_LENGTH} characters, got ${text.length}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse(`must be an absolute http(s) URL such as https://app.example.org/hooks/errand, got ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse(`must be an https URL, got the scheme ${url.protocol.slice(0, -1)}`);
  if (url.username || url.password) throw refuse('must not hold a user name or password (deliveries are signed instead: see Errand-Signature)');
  if (url.hash) throw refuse('must not hold a fragment (#...)');
  const entry = callbackHostOf(url, allowlist);
  const where = `${url.hostname}${url.port ? `:${url.port}` : ''}`;
  if (!entry) throw refuse(`host ${where} is not one this server sends callbacks to (--callback-hosts)`);
  if (url.protocol === 'http:' && !entry.plainHttp) throw refuse(`must be https: plain http to ${where} is not allowed (list it as http://${where} to allow it)`);
  return url.href;
}

/**
 * The `Errand-Signature` header of a delivery: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 * The timestamp is signed with the body, so a receiver that refuses old timestamps refuses replays.
 */
export function callbackSignature(secret: string, timestampSeconds: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

export interface CallbackRetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Wait after the first failed attempt; each later wait doubles, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
}

/** How long after failed attempt `attempt` (1 for the first) the next one is made; undefined when none is left. */
export function callbackRetryDelayMs(attempt: number, policy: CallbackRetryPolicy): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 52));
}

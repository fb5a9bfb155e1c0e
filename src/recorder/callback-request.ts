/**
 * One callback attempt over HTTP: a POST to an allowlisted URL, guarded against being turned on
 * the network Errand runs in (SSRF). The host is checked against the allowlist again (it may
 * have changed since the task was submitted); a name is resolved here and refused if any of its
 * addresses is not public, unless the operator named the address or allowed private ones; the
 * connection goes to the very address checked (no second lookup a DNS rebinding could answer
 * differently); redirects are not followed; the answer's body is never read.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { callbackHostOf, nonPublicAddress } from '../core/index.ts';
import type { CallbackAllowlist } from '../core/index.ts';

/** Every address a name resolves to (dns.lookup's answer with `all: true`). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface CallbackPost {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowlist: CallbackAllowlist;
  resolve?: Resolver;
  /** CA certificates trusted instead of Node's (tests: a receiver with a certificate of their own CA). */
  ca?: Buffer;
}

/** What came of it: the receiver's status, or why there was none (or why it does not count). */
export interface CallbackAnswer { statusCode: number | null; error: string | null; durationMs: number }

/** A 2xx answer delivers the callback; anything else, or no answer, is tried again. */
export function delivered(answer: CallbackAnswer): boolean {
  return answer.error === null && answer.statusCode !== null && answer.statusCode >= 200 && answer.statusCode < 300;
}

/** The one address to connect to, checked; throws with the reason when there is none. */
async function checkedAddress(url: URL, allowlist: CallbackAllowlist, resolve: Resolver): Promise<{ address: string; family: number }> {
  const entry = callbackHostOf(url, allowlist);
  if (!entry) throw new Error(`host ${url.host} is no longer allowed (--callback-hosts)`);
  if (url.protocol === 'http:' && !entry.plainHttp) throw new Error(`plain http to ${url.host} is no longer allowed (--callback-hosts)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const mayBePrivate = entry.privateAllowed || allowlist.allowPrivate;
  const addresses = isIP(host) !== 0 ? [{ address: host, family: isIP(host) }] : await resolve(host).catch((err: Error) => {
    throw new Error(`cannot resolve ${host}: ${err.message}`);
  });
  if (addresses.length === 0) throw new Error(`${host} resolves to no address`);
  if (!mayBePrivate) {
    for (const { address } of addresses) {
      const kind = nonPublicAddress(address);
      if (kind !== undefined) {
        throw new Error(`${host} resolves to ${address}, a ${kind} address: callbacks go to public addresses only, unless the allowlist names the address or --callback-allow-private is given`);
      }
    }
  }
  return addresses[0]!;
}

/** Makes one attempt; never throws. */
export async function postCallback(post: CallbackPost): Promise<CallbackAnswer> {
  const started = performance.now();
  const answer = (statusCode: number | null, error: string | null): CallbackAnswer => ({ statusCode, error, durationMs: performance.now() - started });
  const url = new URL(post.url);
  let target: { address: string; family: number };
  try {
    target = await checkedAddress(url, post.allowlist, post.resolve ?? systemResolver);
  } catch (err) {
    return answer(null, (err as Error).message);
  }
  // The name the URL holds (Host, TLS server name and certificate check), connected to the address checked above.
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<CallbackAnswer>((settle) => {
    let request: ClientRequest | undefined;
    let done = false;
    const finish = (result: CallbackAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      request?.destroy();
      settle(result);
    };
    // The whole attempt (connect, TLS, sending, the answer's headers) within the timeout.
    const timer = setTimeout(() => finish(answer(null, `no answer within ${post.timeoutMs} ms`)), post.timeoutMs);
    try {
      request = send(url, {
        method: 'POST',
        headers: { ...post.headers, 'content-length': String(Buffer.byteLength(post.body)) },
        lookup: pinned,
        agent: false,
        ...(post.ca ? { ca: post.ca } : {}),
      }, (response: IncomingMessage) => {
        const status = response.statusCode ?? null;
        // The body is never read: nothing in it is used, and a receiver cannot make Errand hold a connection by sending one.
        response.destroy();
        if (status !== null && status >= 300 && status < 400) {
          const location = String(response.headers.location ?? '').slice(0, 200);
          finish(answer(status, `redirects are not followed${location ? ` (Location: ${location})` : ''}`));
        } else {
          finish(answer(status, null));
        }
      });
    } catch (err) {
      finish(answer(null, (err as Error).message));
      return;
    }
    request.on('error', (err: Error) => finish(answer(null, err.message)));
    request.end(post.body);
  });
}

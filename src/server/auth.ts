/**
 * Patavi's API key: when a key is configured, write routes need `x-api-key` equal to it; the
 * creator's name comes from `x-client-name`. Only a fingerprint of the key is ever stored.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ErrandError } from '../core/index.ts';

export interface Principal { name: string | null; keyFingerprint: string | null }

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function fingerprint(key: string): string {
  return digest(key).toString('hex').slice(0, 16);
}

export function createApiKeyCheck(apiKey: string | undefined): (request: FastifyRequest) => Principal {
  const expected = apiKey ? digest(apiKey) : undefined;
  return (request) => {
    const name = headerValue(request, 'x-client-name');
    if (!expected) return { name, keyFingerprint: null };
    const given = headerValue(request, 'x-api-key');
    if (given === null) throw new ErrandError('unauthorized', 'this route needs an API key in the x-api-key header', 'x-api-key');
    if (!timingSafeEqual(digest(given), expected)) throw new ErrandError('unauthorized', 'the API key in x-api-key is not valid', 'x-api-key');
    return { name, keyFingerprint: fingerprint(given) };
  };
}

function headerValue(request: FastifyRequest, name: string): string | null {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? null : first;
}

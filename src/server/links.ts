/**
 * Links in responses (Location, `_links`, the results href in Patavi's messages) come from the
 * configured public URL, or, when none is configured (`errand dev`, tests), from the address the
 * server listens on. Never from the request: its Host and X-Forwarded-* headers are the client's
 * to choose, and a link built from them could send another client (through a cache, a shared
 * task, Patavi's end message) to a host of the attacker's choosing.
 */
import type { AddressInfo } from 'node:net';
import type { Links } from '../core/index.ts';

export function linksAt(base: string): Links {
  const http = base.replace(/\/+$/, '');
  return { http, ws: http.replace(/^http/, 'ws') };
}

/** The base URL of a listening server's own address (an unspecified one is reached as localhost). */
export function listeningUrl(address: AddressInfo | string | null, scheme: 'http' | 'https' = 'http'): string {
  if (address === null || typeof address === 'string') return `${scheme}://localhost`;
  const host = address.address === '0.0.0.0' || address.address === '::' ? 'localhost'
    : address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}

/** Small helpers for talking to a running server the way a client would. */
import { WebSocket } from 'ws';

export async function postTask(baseUrl: string, service: string, body: unknown, options: { ttl?: string; headers?: Record<string, string> } = {}) {
  const query = new URLSearchParams({ service });
  if (options.ttl) query.set('ttl', options.ttl);
  const response = await fetch(`${baseUrl}/task?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { response, json: (await response.json()) as Record<string, any> };
}

export interface UpdateMessage { taskId: string; eventType: string; eventData: any }

/** The updates socket, with a promise for its opening (to act once the server listens) and one for its close. */
export function openUpdates(url: string, protocols?: string[]): { opened: Promise<void>; closed: Promise<{ messages: UpdateMessage[]; code: number; protocol: string }> } {
  const socket = new WebSocket(url, protocols);
  const messages: UpdateMessage[] = [];
  const opened = new Promise<void>((resolve) => socket.once('open', () => resolve()));
  const closed = new Promise<{ messages: UpdateMessage[]; code: number; protocol: string }>((resolve, reject) => {
    socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as UpdateMessage));
    socket.on('close', (code) => resolve({ messages, code, protocol: socket.protocol }));
    socket.on('error', reject);
  });
  return { opened, closed };
}

/** Opens the Patavi updates socket and collects every message until the server closes it. */
export function watchUpdates(url: string, protocols?: string[]): Promise<{ messages: UpdateMessage[]; code: number; protocol: string }> {
  return openUpdates(url, protocols).closed;
}

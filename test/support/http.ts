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

/** Opens the Patavi updates socket and collects every message until the server closes it. */
export function watchUpdates(url: string, protocols?: string[]): Promise<{ messages: UpdateMessage[]; code: number; protocol: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    const messages: UpdateMessage[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as UpdateMessage));
    socket.on('close', (code) => resolve({ messages, code, protocol: socket.protocol }));
    socket.on('error', reject);
  });
}

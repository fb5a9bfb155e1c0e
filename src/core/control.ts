/**
 * Messages on the `errand.control` channel, which every worker and server hears. `cancel` names
 * tasks that must not run (or must stop); a worker that starts asks with `sync` which queued
 * tasks were stopped before it came, and servers answer with a `cancel`.
 */
import { isTaskId } from './ids.ts';

export type ControlMessage =
  | { type: 'cancel'; taskIds: string[] }
  | { type: 'sync'; worker: string };

export function encodeControl(message: ControlMessage): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/** The message, or undefined for one this version does not know (ignored, for rolling upgrades). */
export function parseControl(body: Buffer): ControlMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  if (message.type === 'cancel' && Array.isArray(message.taskIds)) return { type: 'cancel', taskIds: message.taskIds.filter(isTaskId) };
  if (message.type === 'sync' && typeof message.worker === 'string') return { type: 'sync', worker: message.worker };
  return undefined;
}

/**
 * A task's message on its service queue, as every part that queues one sends it: the server on
 * submission, the janitor for a lost worker's task, `errand dev` after a restart.
 */
import { DEADLINE_HEADER, RESULT_QUEUE } from '../core/index.ts';
import type { Broker } from './broker.ts';

export interface TaskMessage { id: string; service: string; input: string }

/** Publishes (persistent, confirmed) the task's input to its queue; a deadline travels as a header. */
export function sendTask(broker: Broker, task: TaskMessage, deadline?: Date | null): Promise<void> {
  return broker.send(task.service, Buffer.from(task.input), {
    correlationId: task.id, replyTo: RESULT_QUEUE, contentType: 'application/json',
    ...(deadline ? { headers: { [DEADLINE_HEADER]: deadline.toISOString() } } : {}),
  });
}

/** Queues a task again, declaring its queue first (no worker may have declared it since a restart). */
export async function requeueTask(broker: Broker, task: TaskMessage): Promise<void> {
  await broker.declareQueue(task.service);
  await sendTask(broker, task);
}

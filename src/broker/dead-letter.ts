/**
 * The dead-letter queue, `errand.dead` (durable, declared by the first part that needs it): where a
 * message no part can act on is set aside, with why, instead of being dropped unseen or handed
 * back to its queue forever (where it would come round again and again ahead of good messages).
 * Errand's queues keep Patavi's arguments (no `x-dead-letter-exchange`, which would make a
 * queue declared by Patavi's parts and Errand's differ), so the consumer moves the message
 * itself: published to `errand.dead`, then acknowledged. Operators read it with any AMQP tool;
 * docs/protocol.md lists the headers.
 */
import type { Logger } from 'pino';
import type { Broker, Delivery, Disposition } from './broker.ts';

export const DEAD_LETTER_QUEUE = 'errand.dead';
/** Why the message was set aside, and the queue it came from. */
export const DEAD_REASON_HEADER = 'x-errand-dead-reason';
export const DEAD_QUEUE_HEADER = 'x-errand-dead-queue';

/** Original headers larger than this (as JSON) are left out: the copy's header must fit in one AMQP frame. */
const MAX_KEPT_HEADERS = 32 * 1024;
const MAX_REASON = 1000;

/** Sets a delivery aside; returns how to settle the original (ack once the copy is confirmed). */
export type DeadLetters = (queue: string, delivery: Delivery, reason: string) => Promise<Disposition>;

export function createDeadLetters(broker: Broker, logger: Logger): DeadLetters {
  let declared: Promise<void> | undefined;
  return async (queue, delivery, reason) => {
    const { correlationId, contentType, type } = delivery.properties;
    const log = { queue, reason, correlationId: correlationId ?? null };
    try {
      await (declared ??= broker.declareQueue(DEAD_LETTER_QUEUE).catch((err: unknown) => {
        declared = undefined;
        throw err;
      }));
      let kept = delivery.properties.headers ?? {};
      try {
        if (JSON.stringify(kept).length > MAX_KEPT_HEADERS) kept = {};
      } catch {
        kept = {};
      }
      await broker.send(DEAD_LETTER_QUEUE, delivery.body, {
        ...(correlationId !== undefined ? { correlationId } : {}),
        ...(contentType !== undefined ? { contentType } : {}),
        ...(type !== undefined ? { type } : {}),
        headers: { ...kept, [DEAD_REASON_HEADER]: reason.slice(0, MAX_REASON), [DEAD_QUEUE_HEADER]: queue },
      });
      logger.warn(log, `message set aside in ${DEAD_LETTER_QUEUE}`);
      return 'ack';
    } catch (err) {
      // Not handed back: it would come round again. A broker that is away gets the refusal neither.
      logger.error({ ...log, err: (err as Error).message }, `could not set a message aside in ${DEAD_LETTER_QUEUE}; dropped`);
      return 'drop';
    }
  };
}

/**
 * Broadcasts that skip their sender. A process that hears its own events from its event pipeline
 * (server/event-hub.ts `local`) has no use for the broker's copy, which costs it a delivery to
 * decode and RabbitMQ one to make, per broadcast. RabbitMQ has no "no-local" option, so the
 * sender writes its origin (a number below ORIGINS) into the routing key, one topic word per bit,
 * and a listener that ignores an origin binds one pattern per bit: "the first i-1 bits as mine,
 * bit i not". Every other origin's key matches exactly one of them, its own none; a key without
 * an origin (a sender that gives none) matches the exact channel binding.
 *
 * Two processes that drew the same origin (1 in 65,536 for a pair) do not hear each other's
 * broadcasts, and read each other's events from the database instead (at most a second late).
 */
export const ORIGIN_BITS = 16;
export const ORIGINS = 2 ** ORIGIN_BITS;

const bitsOf = (origin: number): string[] => {
  if (!Number.isInteger(origin) || origin < 0 || origin >= ORIGINS) throw new RangeError(`an origin is an integer below ${ORIGINS}, got ${origin}`);
  return Array.from({ length: ORIGIN_BITS }, (_, i) => String((origin >> (ORIGIN_BITS - 1 - i)) & 1));
};

/** The routing key of a broadcast on `channel` from `origin`. */
export function originRoutingKey(channel: string, origin: number): string {
  return [channel, ...bitsOf(origin)].join('.');
}

/** The topic patterns that match every broadcast on `channel` but those from `origin`. */
export function bindingsExcept(channel: string, origin: number): string[] {
  const bits = bitsOf(origin);
  const patterns = bits.map((bit, i) => [channel, ...bits.slice(0, i), bit === '0' ? '1' : '0', '#'].join('.'));
  return [channel, ...patterns];
}

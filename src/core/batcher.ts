/**
 * Group commit: calls made while a flush is running (or in the same tick) are gathered and
 * handed to `flush` together, so N concurrent requests cost one round trip instead of N.
 * `flush` returns one outcome per item, in order; a thrown error fails the whole batch.
 */
export interface Batcher<Item, Outcome> {
  add(item: Item): Promise<Outcome>;
  /** Resolves when everything added so far has been flushed. */
  drain(): Promise<void>;
}

export function createBatcher<Item, Outcome>(
  flush: (items: Item[]) => Promise<Outcome[]>,
  options: { maxBatch: number; maxConcurrentFlushes?: number },
): Batcher<Item, Outcome> {
  type Waiting = { item: Item; resolve: (o: Outcome) => void; reject: (e: unknown) => void };
  const maxConcurrent = options.maxConcurrentFlushes ?? 1;
  let queue: Waiting[] = [];
  let running = 0;
  let scheduled = false;
  const idle: Array<() => void> = [];

  const pump = (): void => {
    scheduled = false;
    while (running < maxConcurrent && queue.length > 0) {
      const batch = queue.slice(0, options.maxBatch);
      queue = queue.slice(batch.length);
      running++;
      flush(batch.map((w) => w.item))
        .then(
          (outcomes) => batch.forEach((w, i) => w.resolve(outcomes[i] as Outcome)),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          running--;
          if (queue.length > 0) pump();
          else if (running === 0) idle.splice(0).forEach((wake) => wake());
        });
    }
  };

  return {
    add(item) {
      return new Promise<Outcome>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // Wait one macrotask so that requests arriving together share the first flush too.
        if (!scheduled && running < maxConcurrent) {
          scheduled = true;
          setImmediate(pump);
        }
      });
    },
    drain() {
      if (queue.length === 0 && running === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
  };
}

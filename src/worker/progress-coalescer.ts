/**
 * Progress floods (a script calling `update()` thousands of times a second) are coalesced per
 * task: the first value goes at once, then at most one per interval, always the latest; what is
 * pending when the task ends is sent before its result, so the last value always arrives.
 */
export interface ProgressCoalescer {
  report(data: unknown): void;
  /** Sends what is pending now and ignores later reports (a task left behind may still make some); resolves once published. */
  flush(): Promise<void>;
}

export function createProgressCoalescer(publish: (data: unknown) => Promise<void>, intervalMs: number): ProgressCoalescer {
  let lastSent = -Infinity;
  let pending: { data: unknown } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let ended = false;

  const send = (): void => {
    if (!pending) return;
    const { data } = pending;
    pending = undefined;
    lastSent = performance.now();
    // Chained, so that values leave in the order they were reported.
    inFlight = inFlight.then(() => publish(data)).catch(() => undefined);
  };

  return {
    report(data) {
      if (ended) return;
      pending = { data };
      if (timer) return;
      const wait = lastSent + intervalMs - performance.now();
      if (wait <= 0) {
        send();
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        send();
      }, wait);
    },
    async flush() {
      ended = true;
      clearTimeout(timer);
      timer = undefined;
      send();
      await inFlight;
    },
  };
}

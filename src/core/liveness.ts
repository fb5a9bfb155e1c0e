/**
 * When a worker counts as lost. Errand's workers acknowledge a task when it starts, so the broker
 * will not hand a dead worker's task to another: the janitor does, for every running task whose
 * worker is lost by these rules. Pure: the adapter feeds in what the registry heard and the time.
 */

/** What was heard from one worker on the registry channel. */
export interface WorkerSighting {
  /** Its last announcement (ms since epoch). */
  lastSeen: number;
  /** The interval it announces at. */
  intervalMs: number;
  /** When it said goodbye, if it did. */
  leftAt?: number;
}

export interface LivenessRules {
  /** A worker silent for this many of its intervals is lost (as the server's registry forgets it). */
  missedIntervals: number;
  /**
   * A worker never heard from since the watcher started is lost once this has passed: long
   * enough for every live worker to answer the watcher's discover, or announce on its own.
   */
  unknownGraceMs: number;
  /** After a goodbye, the time its last results get to be recorded before its tasks count as lost. */
  goodbyeGraceMs: number;
}

export const DEFAULT_LIVENESS: LivenessRules = { missedIntervals: 3, unknownGraceMs: 20_000, goodbyeGraceMs: 5_000 };

/**
 * `listeningSince` is when the watcher's current unbroken spell of hearing the channel began:
 * silence before it proves nothing (the watcher may have been the one cut off), so it is not
 * counted against any worker.
 */
export function isWorkerLost(sighting: WorkerSighting | undefined, listeningSince: number, now: number, rules: LivenessRules): boolean {
  if (!sighting) return now - listeningSince > rules.unknownGraceMs;
  if (sighting.leftAt !== undefined) return now - sighting.leftAt > rules.goodbyeGraceMs;
  return now - Math.max(sighting.lastSeen, listeningSince) > rules.missedIntervals * sighting.intervalMs;
}

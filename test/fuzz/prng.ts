/**
 * A small seeded PRNG (mulberry32): the fuzz suite's cases are a function of the seed alone, so a
 * failing run is replayed with ERRAND_FUZZ_SEED=<the seed it printed>.
 */
export interface Rng {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T;
  bytes(n: number): Buffer;
  hex(n: number): string;
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    seed,
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(0, items.length - 1)]!,
    weighted(items) {
      const total = items.reduce((sum, [w]) => sum + w, 0);
      let roll = next() * total;
      for (const [w, value] of items) {
        roll -= w;
        if (roll < 0) return value;
      }
      return items[items.length - 1]![1];
    },
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(0, 255))),
    hex: (n) => Array.from({ length: n }, () => int(0, 15).toString(16)).join(''),
  };
}

/** The seed every run uses unless told otherwise, so that `npm test` and CI run the same cases each time. */
export const DEFAULT_FUZZ_SEED = 20261130;

/** The seed: ERRAND_FUZZ_SEED when set (decimal or 0x hex, or `random` for a fresh one to explore with), else the default. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.ERRAND_FUZZ_SEED;
  if (given === undefined || given === '') return DEFAULT_FUZZ_SEED;
  if (given === 'random') return Math.floor(Math.random() * 0x100000000) >>> 0;
  const n = Number(given);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`ERRAND_FUZZ_SEED must be an integer from 0 to 4294967295 or random, got ${JSON.stringify(given)}`);
  return n;
}

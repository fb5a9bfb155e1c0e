/**
 * A bounded map that forgets the entry used longest ago when full: a Map keeps insertion order,
 * so a read moves its entry to the end and the first entry is the one to drop.
 */
export interface Lru<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
  /** Removes every entry whose value matches. */
  deleteWhere(match: (value: V) => boolean): void;
  readonly size: number;
}

export function createLru<K, V>(maxEntries: number): Lru<K, V> {
  const entries = new Map<K, V>();
  return {
    get(key) {
      const value = entries.get(key);
      if (value === undefined) return undefined;
      entries.delete(key);
      entries.set(key, value);
      return value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as K);
    },
    delete(key) {
      entries.delete(key);
    },
    deleteWhere(match) {
      for (const [key, value] of entries) if (match(value)) entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}

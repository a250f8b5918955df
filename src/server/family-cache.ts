import type { FamilyRecord } from "./store/family-store.js";

/**
 * FamilyCache keeps recently used families in memory so that a rotation
 * needs one store round trip (the compare-and-swap) instead of two. Only the
 * fields that never change after issue are trusted from it; revocation is
 * always decided by the store inside the compare-and-swap.
 */
export interface FamilyCache {
  /** get returns the cached family, refreshing its recency. */
  get(sid: string): FamilyRecord | undefined;
  /** set caches a family, evicting the least recently used beyond the capacity. */
  set(family: FamilyRecord): void;
}

/** createFamilyCache returns a {@link FamilyCache} holding at most `capacity` families (a Map in recency order). */
export function createFamilyCache(capacity: number): FamilyCache {
  const map = new Map<string, FamilyRecord>();
  return {
    get(sid) {
      const f = map.get(sid);
      if (f !== undefined) {
        map.delete(sid);
        map.set(sid, f);
      }
      return f;
    },
    set(family) {
      map.delete(family.sid);
      map.set(family.sid, family);
      if (map.size > capacity) {
        map.delete(map.keys().next().value!);
      }
    },
  };
}

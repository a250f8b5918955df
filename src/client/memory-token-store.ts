import type { StoredToken, TokenStore } from "./token-store.js";

/**
 * createMemoryTokenStore returns a {@link TokenStore} in memory, shared by
 * every token source in this process (or tab) that uses it. Values are
 * copied in and out, and `lock` serializes callers in order, so sources
 * sharing it refresh once and adopt each other's pairs.
 */
export function createMemoryTokenStore(initial?: StoredToken): TokenStore {
  let value = initial === undefined ? undefined : structuredClone(initial);
  let tail: Promise<unknown> = Promise.resolve();
  return {
    load: async () => (value === undefined ? undefined : structuredClone(value)),
    save: async (token) => {
      value = token === undefined ? undefined : structuredClone(token);
    },
    lock(fn) {
      const run = tail.then(fn, fn);
      tail = run.catch(() => {});
      return run;
    },
  };
}

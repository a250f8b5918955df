import { createAsyncMutex } from "./async-mutex.js";
import type { StoredToken, TokenStore } from "./token-store.js";

/**
 * createMemoryTokenStore returns a {@link TokenStore} in memory, shared by
 * every token source in this process (or tab) that uses it. Values are
 * copied in and out (`structuredClone`), so neither a caller's later change
 * to a saved token nor a change to a loaded one leaks into the store.
 *
 * Its `lock` is an in-process mutex: holders run one at a time, in the order
 * they asked, so sources sharing the store refresh once and adopt each
 * other's pairs. A waiter whose `signal` aborts leaves the queue at once
 * (rejecting with the signal's reason) without disturbing the others. The
 * lock is not reentrant: `fn` must not call `lock` again.
 *
 * @param initial the token the store starts with. @default none
 */
export function createMemoryTokenStore(initial?: StoredToken): TokenStore {
  let value = initial === undefined ? undefined : structuredClone(initial);
  const mutex = createAsyncMutex();
  return {
    load: async () => (value === undefined ? undefined : structuredClone(value)),
    save: async (token) => {
      value = token === undefined ? undefined : structuredClone(token);
    },
    lock: (fn, options) => mutex.run(fn, options?.signal),
  };
}

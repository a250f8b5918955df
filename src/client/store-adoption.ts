import type { StoredToken, TokenStore } from "./token-store.js";

/**
 * isNewerPair reports whether `stored` (read from a store or announced by
 * another tab or process) should replace `current`: it is another pair,
 * received no earlier. Pairs are ordered by `receivedAt` on the local clock
 * of whoever received them; processes sharing a store share a machine clock.
 */
export function isNewerPair(stored: StoredToken | undefined, current: StoredToken | undefined): stored is StoredToken {
  return stored !== undefined && stored.accessToken !== current?.accessToken && stored.receivedAt >= (current?.receivedAt ?? -Infinity);
}

/** StoreRead is what {@link readStore} found: a pair, an empty store, or a failed read. */
export type StoreRead = { ok: true; token: StoredToken | undefined } | { ok: false; error: unknown };

/** readStore loads the stored pair, never throwing: a failed read is reported, not raised. */
export async function readStore(store: TokenStore): Promise<StoreRead> {
  try {
    return { ok: true, token: await store.load() };
  } catch (error) {
    return { ok: false, error };
  }
}

import { encodeStoredToken, readStoredToken } from "./stored-token-codec.js";
import type { TokenStore } from "./token-store.js";

/** WebStorageTokenStoreOptions configures {@link createWebStorageTokenStore}. */
export interface WebStorageTokenStoreOptions {
  /**
   * storage is the Web Storage to use: `localStorage` keeps the session across
   * browser restarts and shares it between tabs; `sessionStorage` keeps it for
   * one tab only.
   * @default globalThis.localStorage — a TypeError is thrown where it does not exist (Node, workers)
   */
  storage?: Storage;
  /**
   * key is the storage key. Use one key per session when an origin holds several.
   * @default "tokenkit.token"
   */
  key?: string;
  /**
   * onError hears about a stored value that cannot be read: a
   * `TokenStoreCorruptError` (`ERR_TOKEN_STORE_CORRUPT`) for a value that is
   * not a tokenkit token, or the storage's own error (storage disabled by the
   * browser). `load` then reports no token instead of throwing.
   * @default none — the problem is silent
   */
  onError?: (error: unknown) => void;
}

/**
 * createWebStorageTokenStore returns a {@link TokenStore} in Web Storage
 * (`localStorage` by default) for browsers. The value is JSON with a format
 * version (`{"version":1,"token":{…}}`). `load` never throws: a corrupt or
 * unreadable value reads as no token and is reported to `onError`; `save`
 * rejects with the storage's error (for example a full quota).
 *
 * It has no `lock`: tabs sharing a key may refresh concurrently (the
 * server's grace window absorbs the race). For an app open in several tabs
 * use `createCrossTabTokenStore`, which also explains why it prefers
 * IndexedDB: `localStorage` writes reach other tabs asynchronously.
 *
 * Security: Web Storage is readable by any script running on the origin; an
 * XSS flaw exposes the refresh token. Prefer `sessionStorage` or an
 * in-memory store where a session need not survive the tab.
 */
export function createWebStorageTokenStore(options: WebStorageTokenStoreOptions = {}): TokenStore {
  const storage = options.storage ?? (globalThis as { localStorage?: Storage }).localStorage;
  if (
    typeof storage !== "object" ||
    storage === null ||
    typeof storage.getItem !== "function" ||
    typeof storage.setItem !== "function" ||
    typeof storage.removeItem !== "function"
  ) {
    throw new TypeError(
      options.storage === undefined
        ? 'createWebStorageTokenStore: option "storage" is required where globalThis.localStorage does not exist'
        : 'createWebStorageTokenStore: option "storage" must implement the Web Storage interface (getItem, setItem, removeItem)',
    );
  }
  const key = options.key ?? "tokenkit.token";
  if (typeof key !== "string" || key === "") {
    throw new TypeError('createWebStorageTokenStore: option "key" must be a non-empty string');
  }
  const onError = options.onError;
  if (onError !== undefined && typeof onError !== "function") {
    throw new TypeError('createWebStorageTokenStore: option "onError" must be a function');
  }

  return {
    load: () => readStoredToken(() => storage.getItem(key), `web storage key "${key}"`, onError),
    async save(token) {
      if (token === undefined) {
        storage.removeItem(key);
      } else {
        storage.setItem(key, encodeStoredToken(token));
      }
    },
  };
}

import type { StoredToken, TokenStore } from "./token-store.js";

/** WebStorageTokenStoreOptions configures {@link createWebStorageTokenStore}. */
export interface WebStorageTokenStoreOptions {
  /** storage is the Web Storage to use. @default globalThis.localStorage */
  storage?: Storage;
  /** key is the storage key. @default "tokenkit.token" */
  key?: string;
  /** onError hears about unreadable stored values (they are treated as absent). @default none */
  onError?: (error: unknown) => void;
}

/**
 * createWebStorageTokenStore returns a {@link TokenStore} in Web Storage
 * (`localStorage` by default) for browsers. A corrupt stored value reads as
 * no token (and is reported to `onError`), never as an exception. It has no
 * cross-tab `lock`: tabs sharing it may refresh concurrently.
 */
export function createWebStorageTokenStore(options: WebStorageTokenStoreOptions = {}): TokenStore {
  const storage = options.storage ?? (globalThis as { localStorage?: Storage }).localStorage;
  if (storage === undefined) {
    throw new TypeError('createWebStorageTokenStore: option "storage" is required where localStorage does not exist');
  }
  const key = options.key ?? "tokenkit.token";
  if (typeof key !== "string" || key === "") {
    throw new TypeError('createWebStorageTokenStore: option "key" must be a non-empty string');
  }
  return {
    async load() {
      const text = storage.getItem(key);
      if (text === null) {
        return undefined;
      }
      try {
        const parsed = JSON.parse(text) as { version?: number; token?: StoredToken };
        if (parsed.version !== 1 || typeof parsed.token?.accessToken !== "string" || typeof parsed.token.expiresAt !== "number") {
          throw new Error(`stored value under "${key}" is not a tokenkit token`);
        }
        return parsed.token;
      } catch (err) {
        options.onError?.(err);
        return undefined;
      }
    },
    async save(token) {
      if (token === undefined) {
        storage.removeItem(key);
      } else {
        storage.setItem(key, JSON.stringify({ version: 1, token }));
      }
    },
  };
}

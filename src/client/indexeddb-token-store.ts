import { encodeStoredToken, readStoredToken } from "./stored-token-codec.js";
import type { TokenStore } from "./token-store.js";

/** IndexedDbTokenStoreOptions configures {@link createIndexedDbTokenStore}. */
export interface IndexedDbTokenStoreOptions {
  /**
   * indexedDB is the IndexedDB factory to use.
   * @default globalThis.indexedDB — a TypeError is thrown where it does not exist (Node)
   */
  indexedDB?: IDBFactory;
  /** database is the IndexedDB database name. @default "tokenkit" */
  database?: string;
  /** key is the record key inside the database. Use one key per session when an origin holds several. @default "tokenkit.token" */
  key?: string;
  /**
   * onError hears about a value that cannot be read (a `TokenStoreCorruptError`,
   * `ERR_TOKEN_STORE_CORRUPT`) or a database that cannot be opened or read;
   * `load` then reports no token instead of throwing.
   * @default none — the problem is silent
   */
  onError?: (error: unknown) => void;
}

/** The object store holding the tokens, one record per key. */
const OBJECT_STORE = "tokens";

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * createIndexedDbTokenStore returns a {@link TokenStore} in IndexedDB, for
 * browsers (pages and workers). The value is the versioned JSON of the
 * stored-token codec. `load` never throws: a corrupt or unreadable value reads
 * as no token and is reported to `onError`; `save` resolves once its
 * transaction has committed and rejects with the database's error.
 *
 * Why IndexedDB for tabs: a committed IndexedDB transaction is visible to
 * every later transaction of the origin, in any tab. `localStorage` gives no
 * such promise — Chromium keeps a per-process copy that other tabs' writes
 * reach asynchronously — so a tab that takes the cross-tab lock right after
 * another tab rotated the pair can still read the spent one from
 * `localStorage`, and its refresh then trips reuse detection.
 * {@link createCrossTabTokenStore} therefore uses this store by default.
 *
 * Security: like Web Storage, IndexedDB is readable by any script running on
 * the origin; an XSS flaw exposes the refresh token.
 */
export function createIndexedDbTokenStore(options: IndexedDbTokenStoreOptions = {}): TokenStore {
  const who = "createIndexedDbTokenStore";
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (typeof factory?.open !== "function") {
    throw new TypeError(
      options.indexedDB === undefined
        ? `${who}: option "indexedDB" is required where globalThis.indexedDB does not exist`
        : `${who}: option "indexedDB" must be an IDBFactory`,
    );
  }
  const database = options.database ?? "tokenkit";
  if (typeof database !== "string" || database === "") {
    throw new TypeError(`${who}: option "database" must be a non-empty string`);
  }
  const key = options.key ?? "tokenkit.token";
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`${who}: option "key" must be a non-empty string`);
  }
  const onError = options.onError;
  if (onError !== undefined && typeof onError !== "function") {
    throw new TypeError(`${who}: option "onError" must be a function`);
  }

  let opening: Promise<IDBDatabase> | undefined;
  function open(): Promise<IDBDatabase> {
    opening ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory!.open(database, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(OBJECT_STORE)) {
          req.result.createObjectStore(OBJECT_STORE);
        }
      };
      req.onsuccess = () => {
        const db = req.result;
        // Another tab upgrading (or deleting) the database: step aside, reopen on next use.
        db.onversionchange = () => {
          db.close();
          opening = undefined;
        };
        resolve(db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error(`IndexedDB database "${database}" is blocked by another tab`));
    }).catch((err: unknown) => {
      opening = undefined;
      throw err;
    });
    return opening;
  }

  return {
    load: () =>
      readStoredToken(
        async () => request((await open()).transaction(OBJECT_STORE, "readonly").objectStore(OBJECT_STORE).get(key)),
        `IndexedDB "${database}" key "${key}"`,
        onError,
      ),
    async save(token) {
      const db = await open();
      const tx = db.transaction(OBJECT_STORE, "readwrite");
      const store = tx.objectStore(OBJECT_STORE);
      if (token === undefined) {
        store.delete(key);
      } else {
        store.put(encodeStoredToken(token), key);
      }
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
      });
    },
  };
}

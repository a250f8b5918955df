import { createAsyncMutex } from "./async-mutex.js";
import type { StoredToken, TokenStore } from "./token-store.js";
import { createIndexedDbTokenStore } from "./indexeddb-token-store.js";
import { createWebStorageTokenStore } from "./web-storage-token-store.js";

/**
 * WebLocks is the part of the Web Locks API (`navigator.locks`) that
 * {@link createCrossTabTokenStore} uses: an exclusive lock shared by every
 * tab and worker of the origin, held while `callback` runs.
 */
export interface WebLocks {
  /** request runs `callback` while holding the lock `name`; waiting ends with the signal's reason when `signal` aborts. */
  request<T>(name: string, options: { mode?: "exclusive"; signal?: AbortSignal }, callback: () => Promise<T>): Promise<T>;
}

/**
 * CrossTabChannel is the part of `BroadcastChannel` that
 * {@link createCrossTabTokenStore} uses to tell the other tabs of the origin
 * that a new pair was saved.
 */
export interface CrossTabChannel {
  /** postMessage sends a message to every other channel of the same name. */
  postMessage(message: unknown): void;
  /** addEventListener subscribes to `message` events. */
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  /** close disconnects the channel. */
  close(): void;
}

/** CrossTabTokenStoreOptions configures {@link createCrossTabTokenStore}. */
export interface CrossTabTokenStoreOptions {
  /**
   * store keeps the token. It must be shared by the tabs, and a read that
   * follows another tab's completed save must see it — IndexedDB promises
   * that; `localStorage` does not (Chromium propagates other tabs' writes
   * asynchronously, so a tab taking the lock right after another rotated may
   * still read the spent pair).
   * @default createIndexedDbTokenStore({ key: name }) where `indexedDB` exists, else createWebStorageTokenStore({ key: name }) (`localStorage`)
   */
  store?: TokenStore;
  /**
   * name is the Web Lock and BroadcastChannel name (and the default storage
   * key). Use one name per session when an origin holds several.
   * @default "tokenkit.token"
   */
  name?: string;
  /**
   * locks is the Web Locks API. `false` disables it (single-tab behaviour:
   * an in-tab lock only).
   * @default globalThis.navigator.locks — missing in old browsers, in insecure (plain-http, non-localhost) pages and in Node; then the in-tab lock is used
   */
  locks?: WebLocks | false;
  /**
   * channel opens the notification channel. `false` disables notifications:
   * other tabs then adopt a new pair only when they re-read the store under
   * the lock at their own refresh point (still one rotation, just later).
   * @default (name) => new BroadcastChannel(name) where `BroadcastChannel` exists, else none
   */
  channel?: ((name: string) => CrossTabChannel) | false;
}

/**
 * CrossTabTokenStore is a {@link TokenStore} whose `lock` and `subscribe`
 * span the tabs of an origin; it says which browser APIs it found.
 */
export interface CrossTabTokenStore extends TokenStore {
  /** lock runs `fn` under the origin-wide Web Lock (or the in-tab lock where Web Locks are missing). */
  lock<T>(fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T>;
  /** subscribe hears about pairs other tabs saved (through BroadcastChannel). */
  subscribe(listener: (token: StoredToken | undefined) => void): () => void;
  /** webLocks is true when the lock spans tabs (Web Locks API), false when it is an in-tab lock. */
  readonly webLocks: boolean;
  /** broadcast is true when other tabs are notified of saves (BroadcastChannel). */
  readonly broadcast: boolean;
  /** close stops notifications (both ways). The store still loads and saves. */
  close(): void;
}

/** The one message the channel carries: "a new pair was saved, re-read the store". It never holds token text. */
const SAVED = "tokenkit.saved.v1";

/**
 * createCrossTabTokenStore returns a {@link CrossTabTokenStore} for
 * single-page apps open in several tabs that share one session, kept in
 * IndexedDB by default: the token
 * source's "re-read storage → refresh if still needed → write" runs under a
 * Web Lock (`navigator.locks.request(name, …)`) held across tabs, so one tab
 * rotates the refresh token and the others find the new pair when they get
 * the lock; and every save is announced on a `BroadcastChannel`, so the
 * other tabs adopt the new pair at once instead of reaching their own
 * refresh point. The number of refresh calls is the number of rotations
 * needed, whatever the number of tabs, and the server's reuse detection
 * never fires between them.
 *
 * Fallbacks: without the Web Locks API the lock covers this tab only; tabs
 * may then refresh concurrently, which the server's grace window absorbs
 * when they present the same refresh token within it (the identical pair is
 * returned). Without `BroadcastChannel`, tabs adopt a new pair when they
 * re-read the store under the lock. Without both, each tab behaves as a
 * single-tab app sharing storage.
 *
 * Messages carry no token text: a receiving tab re-reads the store.
 * Security: the default store (IndexedDB, else `localStorage`) is readable by
 * any script on the origin; an XSS flaw exposes the refresh token.
 *
 * @example
 * const source = createTokenSource({
 *   refresh: createTokenServiceRefresher(transport),
 *   store: createCrossTabTokenStore(),
 *   autoRefresh: true,
 * });
 */
export function createCrossTabTokenStore(options: CrossTabTokenStoreOptions = {}): CrossTabTokenStore {
  const who = "createCrossTabTokenStore";
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${who}: options must be an object`);
  }
  const name = options.name ?? "tokenkit.token";
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`${who}: option "name" must be a non-empty string`);
  }
  const store =
    options.store ??
    ((globalThis as { indexedDB?: unknown }).indexedDB !== undefined ? createIndexedDbTokenStore({ key: name }) : createWebStorageTokenStore({ key: name }));
  if (typeof store?.load !== "function" || typeof store.save !== "function") {
    throw new TypeError(`${who}: option "store" must be a TokenStore (load, save)`);
  }
  if (options.locks !== undefined && options.locks !== false && typeof options.locks?.request !== "function") {
    throw new TypeError(`${who}: option "locks" must be a LockManager (navigator.locks) or false`);
  }
  if (options.channel !== undefined && options.channel !== false && typeof options.channel !== "function") {
    throw new TypeError(`${who}: option "channel" must be a function opening a BroadcastChannel, or false`);
  }
  const locks: WebLocks | undefined =
    options.locks === false ? undefined : (options.locks ?? (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks ?? undefined);
  const openChannel: ((name: string) => CrossTabChannel) | undefined =
    options.channel === false
      ? undefined
      : (options.channel ??
        (typeof (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel === "function"
          ? (n: string) => new BroadcastChannel(n) as unknown as CrossTabChannel
          : undefined));

  const mutex = createAsyncMutex();
  const listeners = new Set<(token: StoredToken | undefined) => void>();
  let closed = false;
  let channel: CrossTabChannel | undefined;
  if (openChannel !== undefined) {
    channel = openChannel(name);
    // Node has BroadcastChannel too: never keep a process alive for it.
    (channel as { unref?: () => void }).unref?.();
    channel.addEventListener("message", (event) => {
      if (closed || listeners.size === 0 || (event.data as { type?: unknown } | null)?.type !== SAVED) {
        return;
      }
      void store.load().then(
        (token) => {
          for (const listener of [...listeners]) {
            try {
              listener(token);
            } catch {
              // One listener's failure must not keep the others from hearing.
            }
          }
        },
        () => {
          // Unreadable storage: the next refresh re-reads it under the lock anyway.
        },
      );
    });
  }

  return {
    load: () => store.load(),
    async save(token) {
      await store.save(token);
      if (!closed && channel !== undefined && token !== undefined) {
        try {
          channel.postMessage({ type: SAVED });
        } catch {
          // A closed or broken channel only costs the other tabs their early adoption.
        }
      }
    },
    lock<T>(fn: () => Promise<T>, opts?: { signal?: AbortSignal }): Promise<T> {
      const inner = store.lock === undefined ? fn : () => store.lock!(fn, opts);
      if (locks !== undefined) {
        return locks.request(name, { mode: "exclusive", ...(opts?.signal === undefined ? {} : { signal: opts.signal }) }, inner);
      }
      return mutex.run(inner, opts?.signal);
    },
    subscribe(listener) {
      if (typeof listener !== "function") {
        throw new TypeError(`${who}: subscribe needs a function`);
      }
      listeners.add(listener);
      const innerUnsubscribe = store.subscribe?.(listener);
      return () => {
        listeners.delete(listener);
        innerUnsubscribe?.();
      };
    },
    webLocks: locks !== undefined,
    get broadcast() {
      return channel !== undefined && !closed;
    },
    close() {
      closed = true;
      listeners.clear();
      channel?.close();
    },
  };
}

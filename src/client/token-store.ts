/**
 * StoredToken is the token state a client persists: the current pair with
 * its times measured on the *local* clock (milliseconds since the epoch), so
 * that a skewed server clock never changes when a client refreshes.
 *
 * It is a plain JSON-safe object; stores serialize it as is.
 */
export interface StoredToken {
  /** accessToken is the bearer token sent on calls. */
  accessToken: string;
  /** refreshToken renews the pair; absent for access-only sources. */
  refreshToken?: string;
  /** receivedAt is when the pair was received (local clock, ms). */
  receivedAt: number;
  /**
   * expiresAt is when the access token expires on the local clock (ms):
   * `receivedAt + expires_in_seconds × 1000`, else derived from `exp`.
   */
  expiresAt: number;
  /** refreshExpiresAt is when the refresh token expires (local clock, ms), if known. */
  refreshExpiresAt?: number;
  /** sessionId is the server's refresh-token family (`sid`), if known. */
  sessionId?: string;
  /** scopes granted to the access token, if known. */
  scopes?: string[];
}

/**
 * TokenStore persists a {@link StoredToken} so that a refreshed pair survives
 * restarts and is shared between processes or tabs.
 *
 * Contract: `load` returns the last saved token (or `undefined`); `save`
 * replaces it (`undefined` clears it) atomically — a reader never sees half a
 * write. The optional `lock` runs `fn` while holding an exclusive lock shared
 * by every process using the same store, so that "re-read → refresh if still
 * needed → write" happens once across processes; stores without it are
 * process-local. The optional `subscribe` tells about pairs that other tabs
 * or processes saved, so that a token source adopts them at once.
 */
export interface TokenStore {
  /** load returns the stored token, or `undefined` when there is none. */
  load(): Promise<StoredToken | undefined>;
  /** save replaces the stored token; `undefined` clears it. */
  save(token: StoredToken | undefined): Promise<void>;
  /** lock runs `fn` under the store's cross-process exclusive lock. */
  lock?<T>(fn: () => Promise<T>, options?: { signal?: AbortSignal }): Promise<T>;
  /**
   * subscribe calls `listener` with the stored token (as `load` would return
   * it) each time another tab or process saves one — not for saves through
   * this store object — and returns a function that stops the calls.
   * Notifications may be late or lost: a token source still re-reads the
   * store before every refresh; subscribing only spares it that refresh.
   */
  subscribe?(listener: (token: StoredToken | undefined) => void): () => void;
}

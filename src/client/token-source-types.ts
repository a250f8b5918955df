import type { TokenSourceState } from "./token-source-state.js";
import type { StoredToken } from "./token-store.js";

/** GetTokenOptions are the per-call options of {@link TokenSource.getToken}. */
export interface GetTokenOptions {
  /** signal aborts this caller's wait only; a shared refresh goes on for the others. */
  signal?: AbortSignal;
  /** forceRefresh asks for a new token (after the server rejected one). Rate-limited. */
  forceRefresh?: boolean;
  /** failedToken is the access token the server rejected; if it is no longer current, the newer token is returned without refreshing. */
  failedToken?: string;
}

/**
 * TokenSource hands out access tokens and keeps them fresh.
 *
 * Contract (what every implementation and caller may rely on):
 * - It is safe for any number of concurrent callers; callers must not modify what it returns.
 * - `getToken()` resolves at once with the current token while it is fresh; past its refresh
 *   point, still at once while one background refresh runs; it waits only when no usable token
 *   exists, and then all waiters share one refresh (never more than one in flight).
 * - A token it returns was usable (not within the serving margin of its expiry) when returned.
 * - A refresh started for an older pair never replaces — nor ends — a newer one (`setToken`,
 *   or a pair adopted from the store).
 * - It fails only with a `ConnectError`: `Unauthenticated` (with `AuthErrorDetail`) once the
 *   session is over or signed out, the refresher's own error once it reported a configuration
 *   error, a transient refresh error (`Unavailable`, `DeadlineExceeded`, …) while no usable token
 *   exists and the refresh keeps failing, `Canceled` after `close()` or when the caller's signal aborts.
 */
export interface TokenSource {
  /** getToken resolves to a usable access token, refreshing only when needed (single-flight). */
  getToken(options?: GetTokenOptions): Promise<string>;
  /** peekToken returns the current access token if it can be sent right now without waiting, starting a background refresh if it is past its refresh point; else undefined. */
  peekToken(): string | undefined;
  /** current returns the current token state (a copy), if any. */
  current(): StoredToken | undefined;
  /** setToken installs a new pair (a new login), persists it, and leaves any terminal state but `closed`. */
  setToken(token: StoredToken): Promise<void>;
  /**
   * signOut ends the session: the source enters `signed_out` at once (callers get
   * `Unauthenticated`), the stored pair is cleared (which tells other tabs or processes sharing
   * the store: they sign out too), and the session is revoked at the token service through the
   * refresh function's `revoke`. It rejects if clearing or revoking failed — the source is signed
   * out locally either way.
   */
  signOut(): Promise<void>;
  /** state is the lifecycle state; see {@link TokenSourceState}. */
  readonly state: TokenSourceState;
  /** close aborts the in-flight refresh and stops every timer; later calls fail with `Canceled`. */
  close(): void;
}

import type { RefreshCause } from "./token-events.js";
import type { StoredToken } from "./token-store.js";

/** RefreshContext is what a token source passes to each {@link RefreshFunction} call. */
export interface RefreshContext {
  /** signal aborts on the refresh's own timeout, `close()` or `signOut()` — never because one caller gave up. */
  signal: AbortSignal;
  /** cause says why the refresh runs. */
  cause: RefreshCause;
}

/**
 * RefreshFunction obtains a new pair for a token source. It receives the
 * current token (the newest known, possibly adopted from the store) and must
 * measure `receivedAt`/`expiresAt` on the local clock.
 *
 * Failure contract — what it throws decides what the source does:
 * - **Session over** (terminal; state `session_expired`; one `session_expired` event; no loop):
 *   a `ConnectError` with code `Unauthenticated`, optionally with an `AuthErrorDetail` reason
 *   `SESSION_EXPIRED`, `REFRESH_TOKEN_REUSED` or `TOKEN_REVOKED` — build it with
 *   `sessionExpiredError(message, reason?)`. Any failure at all also ends the session once the
 *   current pair's `refreshExpiresAt` has passed.
 * - **Configuration error** (terminal; state `failed`; one `refresh_failed` event; callers get
 *   this error): a `ConnectError` with code `FailedPrecondition`, `PermissionDenied`,
 *   `InvalidArgument`, `Unimplemented` or `NotFound` — `refreshConfigError(message)`.
 * - **Transient** (the still-valid token is served; retried with capped exponential backoff and
 *   jitter): `Unavailable`, `DeadlineExceeded`, `ResourceExhausted`, `Aborted`, `Internal`,
 *   `Unknown`, and **any error that is not a `ConnectError`** (a network failure surfaces as a
 *   plain `TypeError`). With `retry-after` metadata (seconds) the source waits that long instead of
 *   the backoff step (at most the backoff's maximum) — `transientRefreshError(message, {
 *   retryAfterSeconds })`. A caller's forced refresh may still try sooner.
 *
 * A refresh that outlives the source's `refreshTimeoutMs` fails its waiters with
 * `DeadlineExceeded` at once, even if the function ignores the signal; a result it returns
 * later is still kept unless a newer token exists by then (the server has already rotated).
 *
 * `revoke`, when present, is what `signOut()` calls to end the session at the server
 * (RFC 7009 style: possession of the token is the credential).
 */
export interface RefreshFunction {
  (current: StoredToken | undefined, context: RefreshContext): Promise<StoredToken>;
  /** revoke ends the session of `token` at the token service; see `TokenSource.signOut`. */
  revoke?: (token: StoredToken, context: { signal: AbortSignal }) => Promise<void>;
}

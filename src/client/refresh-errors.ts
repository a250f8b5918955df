import { Code, ConnectError } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError, authErrorReason } from "../auth-error.js";

/** The reasons that say a session is over: a new login is needed. */
const SESSION_OVER_REASONS: ReadonlySet<AuthErrorReason> = new Set([
  AuthErrorReason.REFRESH_TOKEN_REUSED,
  AuthErrorReason.SESSION_EXPIRED,
  AuthErrorReason.TOKEN_REVOKED,
  AuthErrorReason.TOKEN_INVALID,
  AuthErrorReason.TOKEN_MALFORMED,
  AuthErrorReason.TOKEN_MISSING,
]);

/** The codes a refresh function uses to say "this refresher cannot work as configured". */
const CONFIG_CODES: ReadonlySet<Code> = new Set([
  Code.FailedPrecondition,
  Code.PermissionDenied,
  Code.InvalidArgument,
  Code.Unimplemented,
  Code.NotFound,
]);

/**
 * sessionExpiredError returns the error a {@link RefreshFunction} throws to
 * say "the session is over, a new login is needed" (an OAuth `invalid_grant`,
 * a revoked or reused refresh token): `Unauthenticated` with an
 * `AuthErrorDetail` carrying `reason`.
 *
 * @param reason SESSION_EXPIRED (default), REFRESH_TOKEN_REUSED or TOKEN_REVOKED.
 */
export function sessionExpiredError(message: string, reason: AuthErrorReason = AuthErrorReason.SESSION_EXPIRED): ConnectError {
  return authError(reason, message, Code.Unauthenticated);
}

/**
 * refreshConfigError returns the error a {@link RefreshFunction} throws to say
 * "this refresher cannot work as configured" (an unknown client, a wrong
 * token endpoint): `FailedPrecondition`. The token source stops refreshing
 * (state `failed`) and every caller gets this error until `setToken`.
 */
export function refreshConfigError(message: string): ConnectError {
  return new ConnectError(message, Code.FailedPrecondition);
}

/**
 * transientRefreshError returns the error a {@link RefreshFunction} throws to
 * say "try again later" (a 5xx, a 429, a network failure): `Unavailable`,
 * with `retry-after` metadata when `retryAfterSeconds` is given, which the
 * token source waits instead of its next backoff step (capped by the
 * backoff's maximum).
 */
export function transientRefreshError(message: string, options: { retryAfterSeconds?: number } = {}): ConnectError {
  const metadata = new Headers();
  const after = options.retryAfterSeconds;
  if (after !== undefined) {
    if (!(Number.isFinite(after) && after >= 0)) {
      throw new TypeError('transientRefreshError: option "retryAfterSeconds" must be a non-negative number');
    }
    metadata.set("retry-after", String(after));
  }
  return new ConnectError(message, Code.Unavailable, metadata);
}

/** RefreshFailure is a refresh function's failure, classified by the {@link RefreshFunction} contract. */
export type RefreshFailure =
  /** session_expired: terminal; a new login is needed. `error` is `Unauthenticated` with an `AuthErrorDetail`. */
  | { kind: "session_expired"; error: ConnectError; reason: AuthErrorReason }
  /** config: terminal; the refresher cannot work as configured. `error` is what it threw. */
  | { kind: "config"; error: ConnectError }
  /** transient: keep serving the still-valid token, retry; `retryAfterMs` when the server asked for a pause. */
  | { kind: "transient"; error: ConnectError; retryAfterMs?: number };

/**
 * classifyRefreshFailure applies the {@link RefreshFunction} failure contract
 * to what a refresh threw. `refreshTokenExpired` says the current pair's
 * refresh token is known to have expired: then any failure ends the session.
 */
export function classifyRefreshFailure(thrown: unknown, refreshTokenExpired: boolean): RefreshFailure {
  const error = thrown instanceof ConnectError ? thrown : ConnectError.from(thrown, Code.Unavailable);
  if (error.code === Code.Unauthenticated || refreshTokenExpired) {
    const carried = authErrorReason(error);
    const reason =
      carried !== undefined && SESSION_OVER_REASONS.has(carried) ? carried : AuthErrorReason.SESSION_EXPIRED;
    return { kind: "session_expired", error: sessionExpiredError(`session expired: ${error.rawMessage}`, reason), reason };
  }
  if (CONFIG_CODES.has(error.code)) {
    return { kind: "config", error };
  }
  const retryAfterMs = parseRetryAfter(error.metadata.get("retry-after"));
  return retryAfterMs === undefined ? { kind: "transient", error } : { kind: "transient", error, retryAfterMs };
}

/** parseRetryAfter reads a `retry-after` value in seconds (the HTTP delta-seconds form), in ms. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || !/^\d+(\.\d+)?$/.test(value.trim())) {
    return undefined;
  }
  return Math.round(Number(value) * 1000);
}

/**
 * isTerminalRefreshError reports whether a refresh failure ends the source's
 * refreshing: the session is over (`Unauthenticated`) or the refresher cannot
 * work as configured (`FailedPrecondition`, `PermissionDenied`,
 * `InvalidArgument`, `Unimplemented`, `NotFound`).
 */
export function isTerminalRefreshError(err: ConnectError): boolean {
  return classifyRefreshFailure(err, false).kind !== "transient";
}

/**
 * isSessionExpired reports whether `err` is a token source's terminal
 * session-over error (expired, reused, revoked — or signed out): a new login
 * is needed, retrying cannot help.
 */
export function isSessionExpired(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated && SESSION_OVER_REASONS.has(authErrorReason(err) ?? 0);
}

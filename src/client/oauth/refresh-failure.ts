import { ConnectError } from "@connectrpc/connect";
import * as oauth from "oauth4webapi";
import { refreshConfigError, sessionExpiredError, transientRefreshError } from "../refresh-errors.js";

/**
 * RefreshFailureKind is how a token source must treat a failed refresh:
 * `session` — the refresh token is dead, a new login is needed (terminal);
 * `config` — the client is set up wrong, retrying cannot help (terminal);
 * `transient` — the provider or the network is briefly unable (retry later).
 */
export type RefreshFailureKind = "session" | "config" | "transient";

/**
 * refreshFailure builds the one `ConnectError` of each kind that a
 * RefreshFunction throws, through the public helpers of the failure contract
 * (`sessionExpiredError`, `refreshConfigError`, `transientRefreshError`).
 * `cause` stays off the wire; it must never hold token text.
 */
export function refreshFailure(kind: RefreshFailureKind, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}): ConnectError {
  const err =
    kind === "session"
      ? sessionExpiredError(message)
      : kind === "config"
        ? refreshConfigError(message)
        : transientRefreshError(message, { retryAfterSeconds: options.retryAfterSeconds });
  err.cause = options.cause;
  return err;
}

/** CONFIG_ERRORS names, for each OAuth error code a token endpoint may answer, the client setting to check. */
const CONFIG_ERRORS: Readonly<Record<string, string>> = {
  invalid_client: "token endpoint rejected the client credentials (invalid_client): check clientId and the client authentication",
  unauthorized_client: "token endpoint does not allow this client the refresh_token grant (unauthorized_client): enable refresh tokens for the client at the provider",
  unsupported_grant_type: "token endpoint does not support the refresh_token grant (unsupported_grant_type)",
  invalid_scope: "token endpoint rejected the requested scope (invalid_scope): check scope",
  invalid_target: "token endpoint rejected the requested resource (invalid_target): check resource",
  invalid_request: "token endpoint rejected the refresh request as malformed (invalid_request)",
};

/**
 * LOGIN_ERRORS are OpenID Connect error codes a token endpoint may answer when only an interactive
 * login can continue (Conditional Access, revoked consent): the session is over, like `invalid_grant`.
 */
const LOGIN_ERRORS = new Set(["interaction_required", "login_required", "consent_required"]);

/** TRANSIENT_ERRORS are OAuth error codes that mean "try again later" whatever the HTTP status. */
const TRANSIENT_ERRORS = new Set(["temporarily_unavailable", "server_error", "slow_down"]);

/**
 * retryAfterSeconds reads `Retry-After` (delta-seconds or an HTTP date, RFC 9110 §10.2.3)
 * as whole seconds from `nowMs`, or `undefined` when absent or unreadable.
 */
export function retryAfterSeconds(response: Response | undefined, nowMs: number): number | undefined {
  const value = response?.headers.get("retry-after")?.trim();
  if (value === undefined || value === "") {
    return undefined;
  }
  if (/^\d+$/.test(value)) {
    return Number(value);
  }
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** oauthErrorFailure maps an OAuth error response (`{"error": …}`, RFC 6749 §5.2) by its error code, then its status. */
function oauthErrorFailure(err: oauth.ResponseBodyError, nowMs: number, what: string): ConnectError {
  if (err.error === "invalid_grant") {
    return refreshFailure("session", "the identity provider rejected the refresh token (invalid_grant): a new login is needed", { cause: err.cause });
  }
  if (LOGIN_ERRORS.has(err.error)) {
    return refreshFailure("session", `the identity provider asks for an interactive login (${err.error})`, { cause: err.cause });
  }
  if (TRANSIENT_ERRORS.has(err.error) || err.status >= 500 || err.status === 429) {
    return refreshFailure("transient", `${what} answered HTTP ${err.status} (${err.error})`, {
      retryAfterSeconds: retryAfterSeconds(err.response, nowMs),
      cause: err.cause,
    });
  }
  const known = CONFIG_ERRORS[err.error];
  return refreshFailure("config", known ?? `${what} refused the refresh (${err.error.slice(0, 64)})`, { cause: err.cause });
}

function statusFailure(status: number, response: Response | undefined, nowMs: number, cause: unknown, what: string): ConnectError {
  if (status >= 500 || status === 429) {
    return refreshFailure("transient", `${what} answered HTTP ${status}`, { retryAfterSeconds: retryAfterSeconds(response, nowMs), cause });
  }
  if (status === 401) {
    return refreshFailure("config", CONFIG_ERRORS.invalid_client!, { cause });
  }
  return refreshFailure("config", `${what} answered HTTP ${status} without an OAuth error: check the endpoint URL`);
}

/**
 * toRefreshFailure maps whatever a refresh or discovery request threw to
 * the token-source contract: `invalid_grant` (and `interaction_required`,
 * `login_required`, `consent_required`) ends the session; client,
 * grant-type, scope and resource errors are configuration errors; 5xx, 429,
 * `temporarily_unavailable` and network failures are transient (with
 * `Retry-After`); a token response that is not one (no `access_token`, not
 * JSON, an unknown `token_type`) is a configuration error, never a crash.
 * Messages carry OAuth error codes and HTTP statuses, never token text or the
 * provider's `error_description` (it may echo request parameters).
 */
export function toRefreshFailure(err: unknown, nowMs: number, what = "token endpoint"): ConnectError {
  if (err instanceof ConnectError) {
    return err;
  }
  if (err instanceof oauth.ResponseBodyError) {
    return oauthErrorFailure(err, nowMs, what);
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return statusFailure(err.status, err.response, nowMs, undefined, what);
  }
  if (err instanceof oauth.OperationProcessingError && err.cause instanceof Response && err.cause.status !== 200) {
    // An HTTP error without an OAuth error body (a proxy's 502 page, a wrong URL's 404).
    return statusFailure(err.cause.status, err.cause, nowMs, undefined, what);
  }
  if (err instanceof oauth.OperationProcessingError && (err.code === oauth.HTTP_REQUEST_FORBIDDEN || err.code === oauth.REQUEST_PROTOCOL_FORBIDDEN)) {
    return refreshFailure("config", `${what} is not an https URL (set allowInsecureRequests only for local development)`);
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    // The cause holds the response body, tokens included: it is dropped, only oauth4webapi's code is kept.
    return refreshFailure("config", `${what} sent a malformed response (${err.code ?? "unreadable"})`);
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof TypeError && typeof code === "string" && code.startsWith("ERR_")) {
    // oauth4webapi's argument checks: a setting it cannot use, not a network failure.
    return refreshFailure("config", `${what} request could not be built (${code})`);
  }
  if (err instanceof TypeError || (err instanceof Error && err.name === "TimeoutError")) {
    // fetch rejects with a TypeError when the connection fails: refused, reset, DNS, TLS.
    return refreshFailure("transient", `${what} is unreachable`, { cause: err });
  }
  return refreshFailure("transient", `${what} request failed`, { cause: err });
}

import type { TokenEndpointResponse } from "oauth4webapi";
import type { StoredToken } from "../token-store.js";

/**
 * DEFAULT_LIFETIME_SECONDS is the access-token lifetime assumed when a
 * provider sends neither `expires_in` nor a readable `exp`/`iat` (RFC 6749
 * makes `expires_in` only RECOMMENDED). Five minutes errs short: an early
 * refresh costs one request, a late one costs a failed call.
 */
export const DEFAULT_LIFETIME_SECONDS = 300;

/** jwtTimes reads `iat` and `exp` (seconds) from a JWT's payload without verifying it, or `undefined` for opaque tokens. */
function jwtTimes(token: string): { iat?: number; exp?: number } | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1]!.length > 8192) {
    return undefined;
  }
  try {
    const b64 = parts[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const payload: unknown = JSON.parse(atob(b64.padEnd(b64.length + ((4 - (b64.length % 4)) % 4), "=")));
    if (typeof payload !== "object" || payload === null) {
      return undefined;
    }
    const { iat, exp } = payload as { iat?: unknown; exp?: unknown };
    return { iat: typeof iat === "number" ? iat : undefined, exp: typeof exp === "number" ? exp : undefined };
  } catch {
    return undefined;
  }
}

/**
 * accessTokenLifetimeSeconds is how long an access token lives: `expires_in`,
 * never longer than `exp − iat` when the token is a JWT carrying both. Both
 * are durations, so neither depends on the provider's clock agreeing with ours.
 */
export function accessTokenLifetimeSeconds(accessToken: string, expiresIn: number | undefined): number {
  const times = jwtTimes(accessToken);
  const fromJwt = times?.exp !== undefined && times.iat !== undefined && times.exp > times.iat ? times.exp - times.iat : undefined;
  const fromResponse = expiresIn !== undefined && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined;
  if (fromResponse !== undefined && fromJwt !== undefined) {
    return Math.min(fromResponse, fromJwt);
  }
  return fromResponse ?? fromJwt ?? DEFAULT_LIFETIME_SECONDS;
}

/**
 * tokenResponseToStoredToken converts an RFC 6749 token response into the
 * {@link StoredToken} a token source keeps, with times on the local clock
 * (`receivedAt` = when the request was sent). A provider that does not rotate
 * refresh tokens sends none: the `previous` one is kept. Without `scope` in
 * the response, the previous scopes are kept (RFC 6749 §5.1: unchanged).
 * Keycloak's `refresh_expires_in` (seconds) sets `refreshExpiresAt`.
 */
export function tokenResponseToStoredToken(response: TokenEndpointResponse, receivedAt: number, previous?: StoredToken): StoredToken {
  const lifetime = accessTokenLifetimeSeconds(response.access_token, response.expires_in);
  const t: StoredToken = { accessToken: response.access_token, receivedAt, expiresAt: receivedAt + lifetime * 1000 };
  const refreshToken = response.refresh_token ?? previous?.refreshToken;
  if (refreshToken !== undefined && refreshToken !== "") {
    t.refreshToken = refreshToken;
  }
  const refreshExpiresIn = response.refresh_expires_in;
  if (typeof refreshExpiresIn === "number" && refreshExpiresIn > 0) {
    t.refreshExpiresAt = receivedAt + refreshExpiresIn * 1000;
  } else if (response.refresh_token === undefined && previous?.refreshExpiresAt !== undefined) {
    t.refreshExpiresAt = previous.refreshExpiresAt;
  }
  const scopes = typeof response.scope === "string" ? response.scope.split(" ").filter((s) => s !== "") : previous?.scopes;
  if (scopes !== undefined && scopes.length > 0) {
    t.scopes = [...scopes];
  }
  return t;
}

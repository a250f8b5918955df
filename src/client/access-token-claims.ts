/** TimeClaims are the JWT time claims a client may read from an access token, in seconds since the epoch. */
export interface TimeClaims {
  /** iat is when the server issued the token (its clock). */
  iat: number;
  /** exp is when the token expires (the server's clock). */
  exp: number;
}

/**
 * readTimeClaims returns `iat` and `exp` of a JWT-shaped access token without
 * verifying it (the client only needs to know when the server will stop
 * accepting it), or `undefined` for an opaque token or one without both
 * claims. It uses `atob` only, so it runs in every runtime.
 */
export function readTimeClaims(token: string): TimeClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1]!.length > 8192) {
    return undefined;
  }
  try {
    const b64 = parts[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json) as { iat?: unknown; exp?: unknown };
    if (typeof claims.iat === "number" && typeof claims.exp === "number" && Number.isFinite(claims.iat) && Number.isFinite(claims.exp)) {
      return { iat: claims.iat, exp: claims.exp };
    }
  } catch {
    // Not a JWT: the lifetime comes from expires_in_seconds alone.
  }
  return undefined;
}

/**
 * boundByClaims returns `expiresAt` (local clock, ms) bounded by the token's
 * own claims, so the client never trusts a lifetime past `exp`:
 * - always by `exp − iat` counted from `sentAt` (both claims are on the server's clock, so a
 *   skewed server changes nothing);
 * - and by `exp` itself when `iat` shows that the clocks agree (the server issued the token between
 *   one second before `sentAt` — `iat` is often floored to a second — and `respondedAt`): a token
 *   issued mid-second expires up to a second before `sentAt + expires_in` would say.
 */
export function boundByClaims(accessToken: string, expiresAt: number, sentAt: number, respondedAt: number): number {
  const claims = readTimeClaims(accessToken);
  if (claims === undefined) {
    return expiresAt;
  }
  let bound = Math.min(expiresAt, sentAt + (claims.exp - claims.iat) * 1000);
  const issuedMs = claims.iat * 1000;
  if (issuedMs >= sentAt - 1000 && issuedMs <= respondedAt) {
    bound = Math.min(bound, claims.exp * 1000);
  }
  return bound;
}

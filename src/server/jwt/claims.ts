import type { ActorClaim } from "../store/family-store.js";

/** ACCESS_TOKEN_TYPE is the JWS `typ` of access tokens (RFC 9068). */
export const ACCESS_TOKEN_TYPE = "at+jwt";

/**
 * REFRESH_TOKEN_TYPE is the JWS `typ` of the signed refresh tokens earlier releases issued; they
 * still rotate. Refresh tokens issued today are opaque handles (`tkr_…`), not JWTs.
 */
export const REFRESH_TOKEN_TYPE = "rt+jwt";

/** MAX_TOKEN_BYTES is the size above which a token is rejected before parsing. */
export const MAX_TOKEN_BYTES = 8192;

/** MAX_ACTOR_DEPTH bounds the nesting of `act` claims (delegation chains). */
export const MAX_ACTOR_DEPTH = 5;

/** AccessTokenClaims are the verified claims of an access token, as handlers see them. */
export interface AccessTokenClaims {
  /** iss is the issuer. */
  iss: string;
  /** sub is the principal; delegated tokens keep the principal here. */
  sub: string;
  /** aud lists the audiences. */
  aud: string[];
  /** exp is the expiry, Unix seconds. */
  exp: number;
  /** iat is the issue time, Unix seconds. */
  iat: number;
  /** jti is the token id. */
  jti: string;
  /** sid is the refresh-token family (session); empty for tokens of issuers that send no `sid`. */
  sid: string;
  /** scopes are the granted scopes (the `scope` claim, split on spaces). */
  scopes: string[];
  /** refreshTtl is the family's refresh-token TTL in seconds (`refresh_ttl`). */
  refreshTtl: number;
  /** meta is the metadata string map (`meta`). */
  meta: Record<string, string>;
  /** act is the actor chain of delegated tokens (`act`). */
  act?: ActorClaim;
}

/** RefreshTokenClaims are the verified claims of a signed (`rt+jwt`) refresh token of an earlier release. */
export interface RefreshTokenClaims {
  /** sub is the principal. */
  sub: string;
  /** sid is the family. */
  sid: string;
  /** jti is the token id. */
  jti: string;
  /** iat is the issue time, Unix seconds. */
  iat: number;
  /** exp is the expiry, Unix seconds. */
  exp: number;
  /** refreshTtl is the family's refresh-token TTL in seconds. */
  refreshTtl: number;
}

/** actorDepth counts the actors in an `act` chain. */
export function actorDepth(act: ActorClaim | undefined): number {
  let depth = 0;
  for (let a = act; a !== undefined; a = a.act) {
    depth++;
  }
  return depth;
}

import type { JWTPayload } from "jose";
import { AuthErrorReason } from "../../../gen/tokenkit/v1/auth_error_pb.js";
import type { ActorClaim } from "../store/family-store.js";
import { systemClock } from "../../lib/clock.js";
import {
  ACCESS_TOKEN_TYPE,
  MAX_TOKEN_BYTES,
  MAX_ACTOR_DEPTH,
  actorDepth,
  type AccessTokenClaims,
} from "./claims.js";
import {
  TokenVerificationError,
  createTokenVerifier,
  type TokenVerifierOptions,
} from "./token-verifier.js";
import { createVerifiedTokenCache } from "./verified-token-cache.js";

/** AccessTokenVerifier verifies a bearer access token and returns its typed claims, or throws {@link TokenVerificationError}. */
export type AccessTokenVerifier = (token: string, options?: { ignoreExpiry?: boolean; ignoreAudience?: boolean }) => Promise<AccessTokenClaims>;

/**
 * AccessTokenVerifierOptions configures {@link createAccessTokenVerifier}:
 * the options of `createTokenVerifier` without `typ`, which is always
 * `at+jwt`, plus the verified-token cache.
 */
export interface AccessTokenVerifierOptions extends Omit<TokenVerifierOptions, "typ"> {
  /**
   * cacheSize is how many verified tokens are remembered, so the repeated
   * calls of one client (one token for most of an hour) skip the signature
   * check; 0 turns the cache off. Entries are keyed by the token's SHA-256.
   * @default 10000
   */
  cacheSize?: number;
  /**
   * cacheTtlMs is how long a verified token is trusted without checking its
   * signature again; a key removed from the ring stops verifying within it.
   * An entry never outlives the token's expiry.
   * @default 60000
   */
  cacheTtlMs?: number;
}

/**
 * createAccessTokenVerifier returns an {@link AccessTokenVerifier}: every
 * check of `createTokenVerifier` with `typ: "at+jwt"`, plus the shape of the
 * tokenkit claims (`sid`, `scope`, `refresh_ttl`, `meta`, `act` depth ≤ 5).
 * Tokens that verified are remembered (see `cacheSize`, `cacheTtlMs`); the
 * claims it returns are frozen.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const { cacheSize = 10_000, cacheTtlMs = 60_000, ...verifierOptions } = options ?? {};
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
    throw new TypeError('createAccessTokenVerifier: option "cacheSize" must be a non-negative integer');
  }
  if (!Number.isFinite(cacheTtlMs) || cacheTtlMs < 0) {
    throw new TypeError('createAccessTokenVerifier: option "cacheTtlMs" must be a non-negative number of milliseconds');
  }
  const verify = createTokenVerifier({ ...verifierOptions, typ: ACCESS_TOKEN_TYPE });
  if (cacheSize === 0 || cacheTtlMs === 0) {
    return async (token, opts) => parseAccessClaims(await verify(token, opts));
  }
  const clock = options.clock ?? systemClock;
  const cache = createVerifiedTokenCache(cacheSize, cacheTtlMs, options.clockToleranceSeconds ?? 60);
  return async (token, opts) => {
    // Revocation's relaxed checks (ignoreExpiry, ignoreAudience) never read or fill the cache.
    if (opts?.ignoreExpiry || opts?.ignoreAudience || typeof token !== "string" || token.length > MAX_TOKEN_BYTES) {
      return parseAccessClaims(await verify(token, opts));
    }
    const hit = cache.get(token, clock.now());
    if (hit !== undefined) {
      return hit;
    }
    const claims = parseAccessClaims(await verify(token));
    return cache.set(token, claims, clock.now());
  };
}

function invalid(what: string): TokenVerificationError {
  return new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, `access token claim "${what}" is not valid`);
}

function parseActor(value: unknown): ActorClaim | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "object" || value === null || typeof (value as ActorClaim).sub !== "string") {
    throw invalid("act");
  }
  const v = value as { sub: string; act?: unknown };
  const act = parseActor(v.act);
  return act === undefined ? { sub: v.sub } : { sub: v.sub, act };
}

function parseAccessClaims(p: JWTPayload): AccessTokenClaims {
  if (typeof p.sid !== "string" || p.sid === "") {
    throw invalid("sid");
  }
  if (p.scope !== undefined && typeof p.scope !== "string") {
    throw invalid("scope");
  }
  if (p.refresh_ttl !== undefined && !Number.isSafeInteger(p.refresh_ttl)) {
    throw invalid("refresh_ttl");
  }
  const meta: Record<string, string> = {};
  if (p.meta !== undefined) {
    if (typeof p.meta !== "object" || p.meta === null || Array.isArray(p.meta)) {
      throw invalid("meta");
    }
    for (const [k, v] of Object.entries(p.meta)) {
      if (typeof v !== "string") {
        throw invalid("meta");
      }
      meta[k] = v;
    }
  }
  const act = parseActor(p.act);
  if (actorDepth(act) > MAX_ACTOR_DEPTH) {
    throw invalid("act");
  }
  const scope = (p.scope as string | undefined) ?? "";
  const claims: AccessTokenClaims = {
    iss: p.iss as string,
    sub: p.sub as string,
    aud: p.aud === undefined ? [] : Array.isArray(p.aud) ? p.aud : [p.aud],
    exp: p.exp as number,
    iat: p.iat as number,
    jti: p.jti as string,
    sid: p.sid,
    scopes: scope === "" ? [] : scope.split(" "),
    refreshTtl: (p.refresh_ttl as number | undefined) ?? 0,
    meta,
  };
  if (act !== undefined) {
    claims.act = act;
  }
  return claims;
}

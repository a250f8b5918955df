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

/**
 * cachedLookups holds, for each verifier built by {@link createAccessTokenVerifier} with a cache,
 * its synchronous cache lookup; the bearer interceptor answers repeated calls from it without a
 * promise. A verifier a caller wraps or writes has none and is simply awaited.
 */
const cachedLookups = new WeakMap<AccessTokenVerifier, (token: string) => AccessTokenClaims | undefined>();

/**
 * cachedAccessClaims returns the claims `verify` would resolve to for `token` if its
 * verified-token cache holds the token (verified less than `cacheTtlMs` ago, not expired now),
 * else undefined — then call `verify` itself.
 */
export function cachedAccessClaims(verify: AccessTokenVerifier, token: string): AccessTokenClaims | undefined {
  return cachedLookups.get(verify)?.(token);
}

/** AccessTokenVerifier verifies a bearer access token and returns its typed claims, or throws {@link TokenVerificationError}. */
export type AccessTokenVerifier = (token: string, options?: { ignoreExpiry?: boolean; ignoreAudience?: boolean }) => Promise<AccessTokenClaims>;

/**
 * AccessTokenVerifierOptions configures {@link createAccessTokenVerifier}:
 * the options of `createTokenVerifier` without `typ`, which is `at+jwt`
 * (RFC 9068) unless `acceptPlainJwt` widens it, plus the verified-token cache
 * and the provider opt-ins. `issuer` and `audience` are required for every
 * issuer: a token is accepted only with exactly that `iss` and one of those
 * `aud` values.
 */
export interface AccessTokenVerifierOptions extends Omit<TokenVerifierOptions, "typ"> {
  /**
   * acceptPlainJwt also accepts access tokens whose JWS header says `typ: "JWT"` or has no
   * `typ`, as Keycloak, Okta, Entra and other providers that predate RFC 9068 sign them.
   *
   * Security: `typ: "at+jwt"` is what tells an access token from an ID token or any other JWT
   * of the same issuer. With this on, only `audience` (and `issuer`) keep an ID token — whose
   * `aud` is a client id — from being accepted as a bearer: never use a client id as the
   * audience then. Refresh tokens (`rt+jwt`) stay rejected.
   * @default false — only `at+jwt`
   */
  acceptPlainJwt?: boolean;
  /**
   * acceptScp reads the granted scopes from an `scp` claim when the token has no `scope`:
   * a list of names (Okta) or a space-separated string (Entra). `scope`, when present, wins.
   * @default false — only the RFC 9068 `scope` claim (space-separated)
   */
  acceptScp?: boolean;
  /**
   * cacheSize is how many verified tokens are remembered, so the repeated
   * calls of one client (one token for most of an hour) skip the signature
   * check; 0 turns the cache off. It also holds at most 16 MiB of token text.
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
 * The tokenkit claims are optional, so RFC 9068 access tokens of any issuer
 * verify with that issuer's JWKS (`jwksUrl`); `sid` is then empty.
 * Tokens that verified are remembered (see `cacheSize`, `cacheTtlMs`); the
 * claims it returns are frozen.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const { cacheSize = 10_000, cacheTtlMs = 60_000, acceptPlainJwt = false, acceptScp = false, ...verifierOptions } = options ?? {};
  for (const [name, v] of [["acceptPlainJwt", acceptPlainJwt], ["acceptScp", acceptScp]] as const) {
    if (typeof v !== "boolean") {
      throw new TypeError(`createAccessTokenVerifier: option "${name}" must be a boolean`);
    }
  }
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) {
    throw new TypeError('createAccessTokenVerifier: option "cacheSize" must be a non-negative integer');
  }
  if (!Number.isFinite(cacheTtlMs) || cacheTtlMs < 0) {
    throw new TypeError('createAccessTokenVerifier: option "cacheTtlMs" must be a non-negative number of milliseconds');
  }
  const verify = createTokenVerifier({ ...verifierOptions, typ: acceptPlainJwt ? [ACCESS_TOKEN_TYPE, "JWT", ""] : ACCESS_TOKEN_TYPE });
  const parseAccessClaims = (p: JWTPayload) => parseClaims(p, acceptScp);
  if (cacheSize === 0 || cacheTtlMs === 0) {
    return async (token, opts) => parseAccessClaims(await verify(token, opts));
  }
  const clock = options.clock ?? systemClock;
  const cache = createVerifiedTokenCache(cacheSize, cacheTtlMs, options.clockToleranceSeconds ?? 60);
  const cached = (token: string) => cache.get(token, clock.now());
  const verifier: AccessTokenVerifier = async (token, opts) => {
    // Revocation's relaxed checks (ignoreExpiry, ignoreAudience) never read or fill the cache.
    if (opts?.ignoreExpiry || opts?.ignoreAudience || typeof token !== "string" || token.length > MAX_TOKEN_BYTES) {
      return parseAccessClaims(await verify(token, opts));
    }
    const hit = cached(token);
    if (hit !== undefined) {
      return hit;
    }
    const claims = parseAccessClaims(await verify(token));
    return cache.set(token, claims, clock.now());
  };
  cachedLookups.set(verifier, cached);
  return verifier;
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

/** parseScopes reads `scope` (RFC 9068, space-separated) or, where accepted, `scp` (a list or a space-separated string). */
function parseScopes(p: JWTPayload, acceptScp: boolean): string[] {
  if (p.scope !== undefined) {
    if (typeof p.scope !== "string") {
      throw invalid("scope");
    }
    return p.scope.split(" ").filter((s) => s !== "");
  }
  if (!acceptScp || p.scp === undefined) {
    return [];
  }
  if (typeof p.scp === "string") {
    return p.scp.split(" ").filter((s) => s !== "");
  }
  if (!Array.isArray(p.scp) || p.scp.some((s) => typeof s !== "string" || s === "" || s.includes(" "))) {
    throw invalid("scp");
  }
  return [...(p.scp as string[])];
}

function parseClaims(p: JWTPayload, acceptScp: boolean): AccessTokenClaims {
  if (p.sid !== undefined && (typeof p.sid !== "string" || p.sid === "")) {
    throw invalid("sid");
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
  const claims: AccessTokenClaims = {
    iss: p.iss as string,
    sub: p.sub as string,
    aud: p.aud === undefined ? [] : Array.isArray(p.aud) ? p.aud : [p.aud],
    exp: p.exp as number,
    iat: p.iat as number,
    jti: p.jti as string,
    sid: p.sid ?? "",
    scopes: parseScopes(p, acceptScp),
    refreshTtl: (p.refresh_ttl as number | undefined) ?? 0,
    meta,
  };
  if (act !== undefined) {
    claims.act = act;
  }
  return claims;
}

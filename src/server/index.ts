/**
 * tokenkit/server — the token server half of tokenkit (Node only): the
 * TokenService, the bearer-auth interceptor for any Connect server, the key
 * ring and JWKS, token-family stores, and the bootstrap behind `tokenkit serve`.
 *
 * @module
 */
export { createTokenService, refreshTokenAudience, SCOPE_ISSUE, SCOPE_EXCHANGE } from "./token-service.js";
export type { TokenServiceOptions } from "./token-service.js";
export { createBearerAuthInterceptor, claimsKey } from "./bearer-auth-interceptor.js";
export type { BearerAuthInterceptorOptions } from "./bearer-auth-interceptor.js";
export { createAccessTokenVerifier } from "./jwt/access-token-verifier.js";
export type { AccessTokenVerifier, AccessTokenVerifierOptions } from "./jwt/access-token-verifier.js";
export { createTokenVerifier, TokenVerificationError } from "./jwt/token-verifier.js";
export type { TokenVerifier, TokenVerifierOptions, KeySource } from "./jwt/token-verifier.js";
export { ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, MAX_TOKEN_BYTES, MAX_ACTOR_DEPTH } from "./jwt/claims.js";
export type { AccessTokenClaims, RefreshTokenClaims } from "./jwt/claims.js";
export { createKeyRing } from "./keys/key-ring.js";
export type { KeyRing, KeyRingOptions, JSONWebKeySet, SigningKey, VerificationKey } from "./keys/key-ring.js";
export { createFileKeyStore, createMemoryKeyStore, SIGNING_ALGORITHMS } from "./keys/key-store.js";
export type { KeyStore, StoredKey, SigningAlgorithm, FileKeyStoreOptions } from "./keys/key-store.js";
export { createRevocationCache } from "./revocation-cache.js";
export type { RevocationCache, RevocationCacheOptions } from "./revocation-cache.js";
export { HARD_MAX_REFRESH_TTL_SECONDS, MIN_REFRESH_TTL_SECONDS } from "./ttl-policy.js";
export type {
  FamilyStore,
  FamilyRecord,
  RefreshRecord,
  RotateInput,
  RotateResult,
  Revocation,
  RevokeReason,
  ActorClaim,
} from "./store/family-store.js";

import type { ServiceImpl } from "@connectrpc/connect";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { systemClock } from "../lib/clock.js";
import { exchangeToken } from "./exchange-token-handler.js";
import { createFamilyCache } from "./family-cache.js";
import { issueToken } from "./issue-token-handler.js";
import { createAccessTokenVerifier } from "./jwt/access-token-verifier.js";
import { REFRESH_TOKEN_TYPE } from "./jwt/claims.js";
import { createTokenVerifier } from "./jwt/token-verifier.js";
import { refreshToken } from "./refresh-token-handler.js";
import { revokeToken } from "./revoke-token-handler.js";
import { createTokenMinter } from "./token-minter.js";
import { newSessionId, type TokenServiceContext } from "./token-service-context.js";
import { normalizeTokenServiceOptions, type TokenServiceOptions } from "./token-service-options.js";
import { createTokenSigner } from "./token-signer.js";

export { SCOPE_ISSUE } from "./issue-token-handler.js";
export { SCOPE_EXCHANGE } from "./exchange-token-handler.js";
export type { TokenServiceOptions } from "./token-service-options.js";

/** FAMILY_CACHE_SIZE is how many families' immutable fields are kept for one-round-trip rotations. */
const FAMILY_CACHE_SIZE = 10_000;

/** refreshTokenAudience is the `aud` of refresh tokens: the token service of `issuer`, and nothing else. */
export function refreshTokenAudience(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/${TokenService.typeName}`;
}

/**
 * createTokenService returns the implementation of `tokenkit.v1.TokenService`
 * with every rule of docs/DESIGN.md §3–§4: TTL defaults and caps reported back,
 * refresh TTL, scopes, audiences, metadata and actor chain carried unchanged
 * through every rotation, access tokens that never outlive their session,
 * one atomic compare-and-swap per rotation, the idempotent grace window
 * returning the identical pair, reuse detection that revokes the family and
 * its delegated children, RFC 7009 revocation and RFC 8693 delegation that
 * never widens. Register it with `router.service(TokenService, impl)`.
 */
export function createTokenService(options: TokenServiceOptions): ServiceImpl<typeof TokenService> {
  const settings = normalizeTokenServiceOptions(options);
  const { store, keyRing, issuer, revocations, logger } = options;
  const clock = options.clock ?? systemClock;
  const refreshAudience = refreshTokenAudience(issuer);
  const clockToleranceSeconds = settings.toleranceSeconds;
  const ctx: TokenServiceContext = {
    settings,
    store,
    families: createFamilyCache(FAMILY_CACHE_SIZE),
    mint: createTokenMinter({ sign: createTokenSigner(keyRing), issuer, newId: newSessionId }),
    verifyAccess: createAccessTokenVerifier({ keys: keyRing, issuer, audience: settings.audience, clockToleranceSeconds, clock }),
    verifyRefresh: createTokenVerifier({ keys: keyRing, typ: REFRESH_TOKEN_TYPE, issuer, audience: refreshAudience, clockToleranceSeconds, clock }),
    revocations,
    clock,
    logger,
  };
  return {
    issueToken: async (req, call) => ({ tokenPair: await issueToken(ctx, req, call) }),
    exchangeToken: async (req, call) => ({ tokenPair: await exchangeToken(ctx, req, call) }),
    refreshToken: async (req) => ({ tokenPair: await refreshToken(ctx, req) }),
    revokeToken: async (req) => {
      await revokeToken(ctx, req);
      return {};
    },
  };
}

import { createContextKey, type Interceptor } from "@connectrpc/connect";
import type { AccessTokenClaims } from "./jwt/claims.js";
import type { AccessTokenVerifier } from "./jwt/access-token-verifier.js";
import type { RevocationCache } from "./revocation-cache.js";
import { authenticateBearer, requireScopes } from "./bearer.js";

/**
 * claimsKey is the Connect context value under which the bearer-auth
 * interceptor puts the verified access-token claims; handlers read it with
 * `ctx.values.get(claimsKey)`. It is `undefined` on calls that were not
 * authenticated by the interceptor.
 */
export const claimsKey = createContextKey<AccessTokenClaims | undefined>(undefined, {
  description: "tokenkit verified access-token claims",
});

/** BearerAuthInterceptorOptions configures {@link createBearerAuthInterceptor}. */
export interface BearerAuthInterceptorOptions {
  /**
   * verifier checks access tokens: `createAccessTokenVerifier({ keys, issuer, audience })` for
   * tokenkit's own, or `createAccessTokenVerifier({ jwksUrl, issuer, audience })` for the RFC 9068
   * access tokens of any OAuth 2.0 / OIDC provider. Required.
   */
  verifier: AccessTokenVerifier;
  /**
   * scopes maps a procedure (`"tokenkit.v1.HeartbeatService/Heartbeat"`) or
   * a whole service (`"tokenkit.v1.HeartbeatService"`) to the scopes a token
   * must hold; both entries apply when both match. Procedures not listed
   * only need a valid token.
   * @default {} — authentication only.
   */
  scopes?: Readonly<Record<string, readonly string[]>>;
  /**
   * revocations rejects tokens of revoked families. Without it, a revoked
   * family's access tokens stay valid until they expire.
   * @default none
   */
  revocations?: RevocationCache;
  /**
   * publicProcedures lists procedures or services that skip authentication.
   * @default [] — everything behind the interceptor needs a bearer token.
   */
  publicProcedures?: readonly string[];
}

/**
 * createBearerAuthInterceptor returns a Connect server interceptor that
 * verifies `authorization: Bearer <access token>` per docs/DESIGN.md §3, rejects
 * tokens of revoked families, enforces per-procedure scopes and puts the
 * claims into the context value {@link claimsKey}. Failures are
 * `Unauthenticated` (or `PermissionDenied` for scopes) with an
 * `AuthErrorDetail`. Works in any Connect server, not only tokenkit's.
 */
export function createBearerAuthInterceptor(options: BearerAuthInterceptorOptions): Interceptor {
  if (typeof options?.verifier !== "function") {
    throw new TypeError('createBearerAuthInterceptor: option "verifier" must be an AccessTokenVerifier');
  }
  const scopes = options.scopes ?? {};
  for (const [k, v] of Object.entries(scopes)) {
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string" || s === "" || s.includes(" "))) {
      throw new TypeError(`createBearerAuthInterceptor: option "scopes" entry "${k}" must be a list of scope names`);
    }
  }
  const publicProcedures = new Set(options.publicProcedures ?? []);
  const { verifier, revocations } = options;
  return (next) => async (req) => {
    const service = req.service.typeName;
    const procedure = `${service}/${req.method.name}`;
    if (publicProcedures.has(procedure) || publicProcedures.has(service)) {
      return next(req);
    }
    const claims = await authenticateBearer(req.header, verifier, revocations);
    const required = [...(scopes[service] ?? []), ...(scopes[procedure] ?? [])];
    if (required.length > 0) {
      requireScopes(claims, required);
    }
    req.contextValues.set(claimsKey, claims);
    return next(req);
  };
}

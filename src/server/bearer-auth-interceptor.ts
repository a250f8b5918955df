import { createContextKey, type Interceptor } from "@connectrpc/connect";
import type { AccessTokenClaims } from "./jwt/claims.js";
import type { AccessTokenVerifier } from "./jwt/access-token-verifier.js";
import type { RevocationCache } from "./revocation-cache.js";
import { authenticateBearer, authenticateCachedBearer, requireScopes } from "./bearer.js";

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

/** Rule is what calling one procedure takes: nothing (public), or a valid token holding `scopes`. */
interface Rule {
  isPublic: boolean;
  scopes: readonly string[];
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
  // A copy: each procedure's rule is worked out once, on its first call.
  const scopes: Record<string, readonly string[]> = { ...options.scopes };
  for (const [k, v] of Object.entries(scopes)) {
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string" || s === "" || s.includes(" "))) {
      throw new TypeError(`createBearerAuthInterceptor: option "scopes" entry "${k}" must be a list of scope names`);
    }
  }
  const publicProcedures = new Set(options.publicProcedures ?? []);
  const required = (key: string) => (Object.hasOwn(scopes, key) ? scopes[key]! : []);
  const { verifier, revocations } = options;

  // Keyed by the method descriptor, which is the same object on every call of a procedure.
  const rules = new WeakMap<object, Rule>();
  const ruleFor = (req: { service: { typeName: string }; method: { name: string } }): Rule => {
    let rule = rules.get(req.method);
    if (rule === undefined) {
      const service = req.service.typeName;
      const procedure = `${service}/${req.method.name}`;
      rule = {
        isPublic: publicProcedures.has(procedure) || publicProcedures.has(service),
        scopes: [...required(service), ...required(procedure)],
      };
      rules.set(req.method, rule);
    }
    return rule;
  };

  return (next) => (req) => {
    const rule = ruleFor(req);
    if (rule.isPublic) {
      return next(req);
    }
    // A token in the verified-token cache is answered without a promise (revocation still checked).
    let claims: AccessTokenClaims | undefined;
    try {
      claims = authenticateCachedBearer(req.header, verifier, revocations);
      if (claims !== undefined) {
        requireScopes(claims, rule.scopes);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (claims === undefined) {
      return authenticate(next, req, rule);
    }
    req.contextValues.set(claimsKey, claims);
    return next(req);
  };

  async function authenticate(next: Parameters<Interceptor>[0], req: Parameters<ReturnType<Interceptor>>[0], rule: Rule): ReturnType<ReturnType<Interceptor>> {
    const claims = await authenticateBearer(req.header, verifier, revocations);
    requireScopes(claims, rule.scopes);
    req.contextValues.set(claimsKey, claims);
    return next(req);
  }
}

import type { HandlerContext } from "@connectrpc/connect";
import { AuthErrorReason } from "../../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../../auth-error.js";
import { claimsKey } from "../bearer-auth-interceptor.js";
import type { AccessTokenClaims } from "../jwt/claims.js";

/**
 * sessionClaims returns the verified access-token claims the bearer-auth
 * interceptor put into the call's context. A session service reached
 * without that interceptor fails closed: `Unauthenticated` +
 * `TOKEN_MISSING`, never an anonymous call.
 */
export function sessionClaims(ctx: HandlerContext, service: string): AccessTokenClaims {
  const claims = ctx.values.get(claimsKey);
  if (claims === undefined) {
    throw authError(AuthErrorReason.TOKEN_MISSING, `${service} needs an authenticated call; serve it behind createBearerAuthInterceptor`);
  }
  return claims;
}

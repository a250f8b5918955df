import { Code, ConnectError } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../auth-error.js";
import type { AccessTokenClaims } from "./jwt/claims.js";
import type { AccessTokenVerifier } from "./jwt/access-token-verifier.js";
import { TokenVerificationError } from "./jwt/token-verifier.js";
import type { RevocationCache } from "./revocation-cache.js";

/**
 * authenticateBearer reads `authorization: Bearer <token>` from request
 * headers, verifies the access token and checks that its family is not
 * revoked. Every failure is a `ConnectError` carrying an `AuthErrorDetail`.
 */
export async function authenticateBearer(
  header: Headers,
  verify: AccessTokenVerifier,
  revocations: RevocationCache | undefined,
): Promise<AccessTokenClaims> {
  const value = header.get("authorization");
  if (value === null || value.trim() === "") {
    throw authError(AuthErrorReason.TOKEN_MISSING, "missing bearer token in the authorization header");
  }
  const match = /^Bearer +(\S+) *$/i.exec(value);
  if (match === null) {
    throw authError(AuthErrorReason.TOKEN_MALFORMED, "authorization header is not of the form 'Bearer <token>'");
  }
  let claims: AccessTokenClaims;
  try {
    claims = await verify(match[1]!);
  } catch (err) {
    throw toAuthError(err, "access token");
  }
  // Tokens of other issuers carry no tokenkit session (sid ""): the provider revokes those itself.
  if (revocations !== undefined && claims.sid !== "") {
    await revocations.ready;
    if (revocations.isRevoked(claims.sid)) {
      throw authError(AuthErrorReason.TOKEN_REVOKED, "access token belongs to a revoked session");
    }
  }
  return claims;
}

/**
 * toAuthError converts a verification failure into the `ConnectError` sent to
 * the caller; a failure of the key source itself becomes `Unavailable`.
 */
export function toAuthError(err: unknown, what: string): ConnectError {
  if (err instanceof TokenVerificationError) {
    if (err.reason === AuthErrorReason.UNSPECIFIED) {
      return new ConnectError(`cannot verify ${what}: ${err.message}`, Code.Unavailable, undefined, undefined, err);
    }
    return authError(err.reason, `${what} rejected: ${err.message}`);
  }
  return ConnectError.from(err, Code.Unavailable);
}

/** requireScopes throws `PermissionDenied` + `INSUFFICIENT_SCOPE` unless `claims` hold every scope in `required`. */
export function requireScopes(claims: AccessTokenClaims, required: readonly string[]): void {
  const missing = required.filter((s) => !claims.scopes.includes(s));
  if (missing.length > 0) {
    throw authError(AuthErrorReason.INSUFFICIENT_SCOPE, `access token lacks scope ${missing.map((s) => `"${s}"`).join(", ")}`);
  }
}

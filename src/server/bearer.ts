import { Code, ConnectError } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../auth-error.js";
import type { AccessTokenClaims } from "./jwt/claims.js";
import { cachedAccessClaims, type AccessTokenVerifier } from "./jwt/access-token-verifier.js";
import { TokenVerificationError } from "./jwt/token-verifier.js";
import type { RevocationCache } from "./revocation-cache.js";

/** BEARER_PREFIX is the header prefix of the fast path: the exact form every client sends. */
const BEARER_PREFIX = "Bearer ";

/** readiness tells, per revocation cache `ready` promise seen, whether it has settled. */
const readiness = new WeakMap<Promise<void>, boolean>();

/** isReady reports, without waiting, whether `revocations` finished its first load; the first call starts watching. */
function isReady(revocations: RevocationCache): boolean {
  const ready = revocations.ready;
  const settled = readiness.get(ready);
  if (settled !== undefined) {
    return settled;
  }
  readiness.set(ready, false);
  ready.then(() => readiness.set(ready, true), () => {});
  return false;
}

/** checkRevoked throws `TOKEN_REVOKED` when the family of `claims` is revoked. */
function checkRevoked(claims: AccessTokenClaims, revocations: RevocationCache): void {
  if (revocations.isRevoked(claims.sid)) {
    throw authError(AuthErrorReason.TOKEN_REVOKED, "access token belongs to a revoked session");
  }
}

/**
 * authenticateCachedBearer is the synchronous path of {@link authenticateBearer}: the claims of an
 * `authorization: Bearer <token>` header whose token `verify` holds in its verified-token cache,
 * after the same revocation check; undefined when it cannot answer without waiting (no such
 * header form, not cached, revocation cache still loading) — then call `authenticateBearer`.
 * Throws `TOKEN_REVOKED` like it.
 */
export function authenticateCachedBearer(
  header: Headers,
  verify: AccessTokenVerifier,
  revocations: RevocationCache | undefined,
): AccessTokenClaims | undefined {
  const value = header.get("authorization");
  // Only the exact "Bearer <token>" form is looked up, and only a token that verified is ever
  // cached (a compact JWS: no whitespace), so a hit is the token authenticateBearer's parse reads.
  if (value === null || !value.startsWith(BEARER_PREFIX)) {
    return undefined;
  }
  const claims = cachedAccessClaims(verify, value.slice(BEARER_PREFIX.length));
  if (claims === undefined) {
    return undefined;
  }
  if (revocations !== undefined && claims.sid !== "") {
    if (!isReady(revocations)) {
      return undefined;
    }
    checkRevoked(claims, revocations);
  }
  return claims;
}

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
  const cached = authenticateCachedBearer(header, verify, revocations);
  if (cached !== undefined) {
    return cached;
  }
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
    checkRevoked(claims, revocations);
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
  let held = 0;
  for (const s of required) {
    if (claims.scopes.includes(s)) held++;
  }
  if (held === required.length) {
    return;
  }
  const missing = required.filter((s) => !claims.scopes.includes(s));
  if (missing.length > 0) {
    throw authError(AuthErrorReason.INSUFFICIENT_SCOPE, `access token lacks scope ${missing.map((s) => `"${s}"`).join(", ")}`);
  }
}

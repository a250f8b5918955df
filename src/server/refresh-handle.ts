import { randomId } from "./random-pool.js";

/**
 * REFRESH_HANDLE_PREFIX starts every refresh token tokenkit issues: an
 * opaque handle, not a JWT, so it can never be mistaken for a bearer token
 * and secret scanners can recognise it.
 */
export const REFRESH_HANDLE_PREFIX = "tkr_";

/** SECRET_CHARS is the length of the handle's secret: 32 random bytes in base64url. */
const SECRET_CHARS = 43;

/** A handle: prefix, 43-character secret, then the family id (base64url, at most 64 characters). */
const HANDLE = /^tkr_[A-Za-z0-9_-]{44,107}$/;

/**
 * newRefreshHandle returns a fresh refresh token for family `sid`: the
 * prefix, 256 random bits, and the family id. Only its SHA-256 hash is
 * stored; the store row is what makes it valid, so it needs no signature,
 * and a rotation costs one signature (the access token) instead of three
 * (verify the old refresh JWT, sign the new one and the access token).
 *
 * The family id in clear lets the token service find the family's
 * immutable fields in its cache and mint the successor before the one
 * compare-and-swap; it is not trusted for anything else. A handle whose
 * id was altered hashes to a row that does not exist.
 */
export function newRefreshHandle(sid: string): string {
  return `${REFRESH_HANDLE_PREFIX}${randomId(32)}${sid}`;
}

/** refreshHandleSid returns the family id a refresh handle names, or undefined when `token` is not a handle. */
export function refreshHandleSid(token: string): string | undefined {
  return HANDLE.test(token) ? token.slice(REFRESH_HANDLE_PREFIX.length + SECRET_CHARS) : undefined;
}

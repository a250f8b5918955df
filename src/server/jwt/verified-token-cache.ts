import { createHash } from "node:crypto";
import type { AccessTokenClaims } from "./claims.js";

/** VerifiedTokenCache remembers access tokens that verified, so a client's next calls skip the signature check. */
export interface VerifiedTokenCache {
  /** get returns the claims of `token` if it verified less than `ttlMs` ago and is still unexpired at `nowMs`. */
  get(token: string, nowMs: number): AccessTokenClaims | undefined;
  /** set remembers that `token` verified at `nowMs` with `claims` (frozen, shared by every hit). */
  set(token: string, claims: AccessTokenClaims, nowMs: number): AccessTokenClaims;
}

interface Entry {
  claims: AccessTokenClaims;
  /** until is when the entry stops being trusted: its TTL, or the token's expiry (plus tolerance). */
  until: number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * createVerifiedTokenCache returns a bounded cache of verified access
 * tokens. Entries are keyed by the SHA-256 of the token (the token text is
 * not kept), trusted for at most `ttlMs` — so a key removed from the ring
 * stops verifying within that time — and never past the token's expiry plus
 * `toleranceSeconds`. When full, the oldest entry goes first.
 */
export function createVerifiedTokenCache(maxEntries: number, ttlMs: number, toleranceSeconds: number): VerifiedTokenCache {
  const entries = new Map<string, Entry>();
  const key = (token: string) => createHash("sha256").update(token).digest("base64url");
  return {
    get(token, nowMs) {
      const k = key(token);
      const e = entries.get(k);
      if (e === undefined) {
        return undefined;
      }
      if (nowMs >= e.until) {
        entries.delete(k);
        return undefined;
      }
      return e.claims;
    },
    set(token, claims, nowMs) {
      const frozen = deepFreeze(claims);
      // jose accepts a token while exp > floor(now) - tolerance, so it is trusted until (exp + tolerance) s.
      const until = Math.min(nowMs + ttlMs, (claims.exp + toleranceSeconds) * 1000);
      const k = key(token);
      entries.delete(k);
      entries.set(k, { claims: frozen, until });
      while (entries.size > maxEntries) {
        entries.delete(entries.keys().next().value as string);
      }
      return frozen;
    },
  };
}

import { Buffer } from "node:buffer";
import type { AccessTokenClaims } from "./claims.js";

/** VerifiedTokenCache remembers access tokens that verified, so a client's next calls skip the signature check. */
export interface VerifiedTokenCache {
  /** get returns the claims of `token` if it verified less than `ttlMs` ago and is still unexpired at `nowMs`. */
  get(token: string, nowMs: number): AccessTokenClaims | undefined;
  /** set remembers that `token` verified at `nowMs` with `claims` (frozen, shared by every hit). */
  set(token: string, claims: AccessTokenClaims, nowMs: number): AccessTokenClaims;
}

interface Entry {
  /** token is the whole token (a private flat copy), compared in full on every hit. */
  token: string;
  claims: AccessTokenClaims;
  /** until is when the entry stops being trusted: its TTL, or the token's expiry (plus tolerance). */
  until: number;
}

/** KEY_CHARS is how many trailing characters of a token (its signature) key the map. */
const KEY_CHARS = 32;

/**
 * MAX_CACHED_CHARS bounds the token text the cache holds (one byte per character: tokens are
 * ASCII), whatever the tokens' size: 16 MiB is 10 000 tokens of 1.6 kB; larger tokens (up to
 * `MAX_TOKEN_BYTES`) mean fewer entries, never more memory.
 */
const MAX_CACHED_CHARS = 16 * 2 ** 20;

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * createVerifiedTokenCache returns a bounded cache of verified access
 * tokens: at most `maxEntries` entries and 16 MiB of token text. An entry is
 * trusted for at most `ttlMs` — so a key removed from the ring stops
 * verifying within that time — and never past the token's expiry plus
 * `toleranceSeconds`. When full, the oldest entry goes first.
 *
 * Entries are keyed by the last 32 characters of the token — its signature,
 * which differs between any two tokens — and a hit compares the whole token
 * with the stored copy, so only the exact token that verified is served. A
 * lookup hashes 32 characters instead of computing a SHA-256 of the token
 * (several times the cost of the lookup, on every call), at the price of
 * holding the token text, bounded above. Timing: a probe reaches the
 * full-token comparison only when its last 32 characters equal those of a
 * cached token, and learning those already takes the token itself; a hit
 * tells the caller only that its token is valid, which the call's result
 * tells it anyway. Failures are never cached.
 */
export function createVerifiedTokenCache(maxEntries: number, ttlMs: number, toleranceSeconds: number): VerifiedTokenCache {
  const entries = new Map<string, Entry>();
  let chars = 0;
  const drop = (key: string, e: Entry) => {
    entries.delete(key);
    chars -= e.token.length;
  };
  return {
    get(token, nowMs) {
      const key = token.slice(-KEY_CHARS);
      const e = entries.get(key);
      if (e === undefined || e.token !== token) {
        return undefined;
      }
      if (nowMs >= e.until) {
        drop(key, e);
        return undefined;
      }
      return e.claims;
    },
    set(token, claims, nowMs) {
      const frozen = deepFreeze(claims);
      // jose accepts a token while exp > floor(now) - tolerance, so it is trusted until (exp + tolerance) s.
      const until = Math.min(nowMs + ttlMs, (claims.exp + toleranceSeconds) * 1000);
      // A flat copy: `token` may be a slice of a larger string (a header, a request body) that the
      // entry would otherwise keep alive. A token that does not survive the one-byte round trip is
      // not ASCII, so not a compact JWS: it is never cached (none verifies anyway).
      const copy = Buffer.from(token, "latin1").toString("latin1");
      if (copy !== token) {
        return frozen;
      }
      const key = token.slice(-KEY_CHARS);
      const old = entries.get(key);
      if (old !== undefined) {
        drop(key, old);
      }
      entries.set(key, { token: copy, claims: frozen, until });
      chars += copy.length;
      while (entries.size > maxEntries || chars > MAX_CACHED_CHARS) {
        const [k, e] = entries.entries().next().value as [string, Entry];
        drop(k, e);
      }
      return frozen;
    },
  };
}

import type { StoredToken } from "./token-store.js";

/**
 * RefreshPolicy holds the client timing rules (docs/DESIGN.md §5), in
 * milliseconds. Build one with {@link normalizeRefreshPolicy}; every function
 * here is pure.
 *
 * Every margin scales with the token's lifetime `L = expiresAt − receivedAt`,
 * so a token of any lifetime from 2 s to days is refreshed about once per
 * lifetime, never once per call:
 * - refresh margin (time left at the refresh point): `max(f × L, min(minMarginMs, L / 4))`;
 * - serving margin (a token this close to expiry is not sent): `min(expiryMarginMs, refresh margin / 2)`,
 *   so the background refresh always has at least half of the refresh window before callers wait;
 * - jitter span: `min(maxJitterMs, jitterRatio × L)`.
 */
export interface RefreshPolicy {
  /** refreshFraction is the share of the lifetime left when a token stops being fresh (0.25: a 1 h token refreshes with 15 min left). */
  refreshFraction: number;
  /** minMarginMs: the refresh point is never later than `expiresAt − min(minMarginMs, lifetime / 4)`. */
  minMarginMs: number;
  /** expiryMarginMs: a token is not served within `min(expiryMarginMs, refresh margin / 2)` of its expiry (the call needs time to arrive). */
  expiryMarginMs: number;
  /** jitterRatio is the jitter span as a share of the lifetime. */
  jitterRatio: number;
  /** maxJitterMs caps the jitter span. */
  maxJitterMs: number;
}

/** RefreshPolicyOptions are the caller-facing knobs of {@link RefreshPolicy}; all optional. */
export interface RefreshPolicyOptions {
  /**
   * refreshFraction is the share of the lifetime left at the refresh point, in (0, 1).
   * @default 0.25 — a 1 h token refreshes with 15 min left: time for retries while the token still works.
   */
  refreshFraction?: number;
  /**
   * minMarginMs clamps the refresh point to at least this long before expiry — for a token
   * shorter than 4 × this, to a quarter of its lifetime — whatever `refreshFraction` says.
   * @default 30 000 — time for a refresh and a retry even with a small `refreshFraction`.
   */
  minMarginMs?: number;
  /**
   * expiryMarginMs is how close to expiry a token is still served; closer, callers wait for the refresh.
   * It shrinks to half of the refresh margin for short tokens. Must be smaller than `minMarginMs`.
   * @default 10 000 — a call sent later could arrive after expiry.
   */
  expiryMarginMs?: number;
  /**
   * jitterRatio spreads refresh points of a fleet: the point moves earlier by up to this share of the lifetime.
   * @default 0.05
   */
  jitterRatio?: number;
  /** maxJitterMs caps the jitter. @default 60 000 */
  maxJitterMs?: number;
}

/** normalizeRefreshPolicy merges defaults into `options` and validates them (TypeError naming the option). */
export function normalizeRefreshPolicy(options: RefreshPolicyOptions = {}, who = "createTokenSource"): RefreshPolicy {
  const p: RefreshPolicy = {
    refreshFraction: options.refreshFraction ?? 0.25,
    minMarginMs: options.minMarginMs ?? 30_000,
    expiryMarginMs: options.expiryMarginMs ?? 10_000,
    jitterRatio: options.jitterRatio ?? 0.05,
    maxJitterMs: options.maxJitterMs ?? 60_000,
  };
  if (!(p.refreshFraction > 0 && p.refreshFraction < 1)) {
    throw new TypeError(`${who}: option "refreshFraction" must be between 0 and 1 (exclusive)`);
  }
  for (const k of ["minMarginMs", "expiryMarginMs", "maxJitterMs"] as const) {
    if (!Number.isFinite(p[k]) || p[k] < 0) {
      throw new TypeError(`${who}: option "${k}" must be a non-negative number of milliseconds`);
    }
  }
  if (!(p.jitterRatio >= 0 && p.jitterRatio < 1)) {
    throw new TypeError(`${who}: option "jitterRatio" must be in [0, 1)`);
  }
  if (p.expiryMarginMs >= p.minMarginMs && p.minMarginMs > 0) {
    throw new TypeError(`${who}: option "expiryMarginMs" must be smaller than "minMarginMs"`);
  }
  return p;
}

/** lifetimeOf returns the lifetime of `token` in ms (0 when it expired at receipt). */
function lifetimeOf(token: StoredToken): number {
  return Math.max(0, token.expiresAt - token.receivedAt);
}

/** refreshMargin returns how long before expiry a token of `lifetime` ms stops being fresh. */
export function refreshMargin(lifetime: number, policy: RefreshPolicy): number {
  return Math.max(policy.refreshFraction * lifetime, Math.min(policy.minMarginMs, lifetime / 4));
}

/** servingMargin returns how close to expiry a token of `lifetime` ms is still sent. */
export function servingMargin(lifetime: number, policy: RefreshPolicy): number {
  return Math.min(policy.expiryMarginMs, refreshMargin(lifetime, policy) / 2);
}

/**
 * refreshPoint returns when `token` stops being fresh (local clock, ms):
 * `expiresAt − refreshMargin` (so `receivedAt + (1 − f) × lifetime` by
 * default), moved earlier by `jitter` (a number in [0, 1)) times the jitter
 * span, never before `receivedAt`.
 */
export function refreshPoint(token: StoredToken, policy: RefreshPolicy, jitter: number): number {
  const lifetime = lifetimeOf(token);
  const span = Math.min(policy.maxJitterMs, policy.jitterRatio * lifetime);
  const point = token.expiresAt - refreshMargin(lifetime, policy) - jitter * span;
  return Math.max(token.receivedAt, Math.floor(point));
}

/** isUsable reports whether `token` may still be sent at `now`: before `expiresAt − servingMargin`. */
export function isUsable(token: StoredToken | undefined, now: number, policy: RefreshPolicy): token is StoredToken {
  return token !== undefined && token.accessToken !== "" && now < token.expiresAt - servingMargin(lifetimeOf(token), policy);
}

/** BackoffOptions configures {@link backoffDelay}. */
export interface BackoffOptions {
  /** initialMs is the first delay. @default 1000 */
  initialMs?: number;
  /** maxMs caps every delay. @default 60 000 */
  maxMs?: number;
}

/**
 * backoffDelay returns the delay before retry number `attempt` (1-based):
 * capped exponential (`initialMs × 2^(attempt−1)`, at most `maxMs`) with
 * "equal jitter" — half fixed, half random from `random` in [0, 1) — so
 * retries spread out but never collapse to zero.
 */
export function backoffDelay(attempt: number, random: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 1000;
  const max = options.maxMs ?? 60_000;
  const capped = Math.min(max, initial * 2 ** Math.max(0, attempt - 1));
  return Math.floor(capped / 2 + random * (capped / 2));
}

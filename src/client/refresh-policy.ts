import type { StoredToken } from "./token-store.js";

/**
 * RefreshPolicy holds the timing rules of DESIGN §5, in milliseconds. Build
 * one with {@link normalizeRefreshPolicy}; every function here is pure.
 */
export interface RefreshPolicy {
  /** refreshFraction is the share of the lifetime left when a token stops being fresh (0.25: a 1 h token refreshes with 15 min left). */
  refreshFraction: number;
  /** minMarginMs: the refresh point is never later than `expiresAt − minMarginMs`. */
  minMarginMs: number;
  /** expiryMarginMs: a token is not served within this much of its expiry (the call needs time to arrive). */
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
   * minMarginMs clamps the refresh point to at least this long before expiry.
   * @default 30 000 — short-lived tokens still refresh before they lapse.
   */
  minMarginMs?: number;
  /**
   * expiryMarginMs is how close to expiry a token is still served; closer, callers wait for the refresh.
   * Must be smaller than `minMarginMs`.
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

/**
 * refreshPoint returns when `token` stops being fresh (local clock, ms):
 * `receivedAt + (1 − f) × lifetime`, never later than `expiresAt − minMarginMs`,
 * moved earlier by `jitter` (a number in [0, 1)) times the jitter span,
 * never before `receivedAt`.
 */
export function refreshPoint(token: StoredToken, policy: RefreshPolicy, jitter: number): number {
  const lifetime = Math.max(0, token.expiresAt - token.receivedAt);
  const byFraction = token.receivedAt + (1 - policy.refreshFraction) * lifetime;
  const span = Math.min(policy.maxJitterMs, policy.jitterRatio * lifetime);
  const point = Math.min(byFraction, token.expiresAt - policy.minMarginMs) - jitter * span;
  return Math.max(token.receivedAt, Math.floor(point));
}

/** isUsable reports whether `token` may still be sent at `now`: before `expiresAt − expiryMarginMs`. */
export function isUsable(token: StoredToken | undefined, now: number, policy: RefreshPolicy): token is StoredToken {
  return token !== undefined && token.accessToken !== "" && now < token.expiresAt - policy.expiryMarginMs;
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

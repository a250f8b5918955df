import { describe, expect, it } from "vitest";
import { backoffDelay, isUsable, normalizeRefreshPolicy, refreshPoint } from "../../src/client/refresh-policy.js";

const HOUR = 3_600_000;
const tok = (receivedAt: number, lifetimeMs: number) => ({ accessToken: "a", receivedAt, expiresAt: receivedAt + lifetimeMs });

describe("refresh policy", () => {
  const p = normalizeRefreshPolicy();
  it.each([
    ["1 h token refreshes with 15 min left (no jitter)", tok(0, HOUR), 0, 45 * 60_000],
    ["1 h token with maximal jitter refreshes up to 60 s earlier", tok(0, HOUR), 0.999, 45 * 60_000 - 59_940],
    ["2 min token: 30 s minimum margin wins over the fraction", tok(0, 120_000), 0, 90_000],
    ["20 s token: the margins scale down, a quarter of its lifetime is left", tok(1000, 20_000), 0, 16_000],
    ["expired at receipt", tok(5000, 0), 0, 5000],
  ])("%s", (_n, t, jitter, expected) => {
    expect(refreshPoint(t, p, jitter)).toBe(expected);
  });

  it("a token is usable until 10 s before expiry — and not one millisecond later", () => {
    const t = tok(0, HOUR);
    expect(isUsable(t, HOUR - 10_001, p)).toBe(true);
    expect(isUsable(t, HOUR - 10_000, p)).toBe(false);
    expect(isUsable(undefined, 0, p)).toBe(false);
  });

  it("backoff grows exponentially, is capped, and keeps half of the delay fixed", () => {
    expect(backoffDelay(1, 0)).toBe(500);
    expect(backoffDelay(1, 0.999)).toBe(999);
    expect(backoffDelay(3, 0)).toBe(2000);
    expect(backoffDelay(20, 0)).toBe(30_000);
    expect(backoffDelay(20, 0.999)).toBeLessThanOrEqual(60_000);
  });

  it("validates options with the option's name", () => {
    expect(() => normalizeRefreshPolicy({ refreshFraction: 1 })).toThrow(/refreshFraction/);
    expect(() => normalizeRefreshPolicy({ expiryMarginMs: 40_000 })).toThrow(/expiryMarginMs/);
    expect(() => normalizeRefreshPolicy({ minMarginMs: -1 })).toThrow(/minMarginMs/);
  });
});

describe("refresh policy: margins scale with the lifetime", () => {
  const p = normalizeRefreshPolicy();
  it.each([2_000, 4_000, 5_000, 10_000, 20_000, 40_000, 120_000, HOUR, 7 * 24 * HOUR])(
    "a %i ms token is usable at once, fresh until a quarter of its lifetime is left, usable while it is refreshed",
    (lifetime) => {
      const t = tok(0, lifetime);
      const point = refreshPoint(t, p, 0);
      expect(point).toBe(Math.min(0.75 * lifetime, lifetime - 30_000 > 0.75 * lifetime ? lifetime - 30_000 : 0.75 * lifetime));
      expect(isUsable(t, 0, p)).toBe(true);
      expect(isUsable(t, point, p)).toBe(true);
      // Half of the refresh window at least is left to the background refresh before callers block.
      expect(isUsable(t, point + (lifetime - point) / 2 - 1, p)).toBe(true);
    },
  );

  it("a small fraction on a long token still refreshes 30 s before expiry; the 30 s shrink to a quarter for short tokens", () => {
    const q = normalizeRefreshPolicy({ refreshFraction: 0.001 });
    expect(refreshPoint(tok(0, HOUR), q, 0)).toBe(HOUR - 30_000);
    expect(refreshPoint(tok(0, 20_000), q, 0)).toBe(15_000);
  });
});

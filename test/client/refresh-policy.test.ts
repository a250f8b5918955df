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
    ["20 s token: clamped to its receipt time, never negative", tok(1000, 20_000), 0, 1000],
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

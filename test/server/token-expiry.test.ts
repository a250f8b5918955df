import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createManualClock } from "../helpers/manual-clock.js";
import { createTokenServerFixture, decodeClaims, refreshExpiry, type TokenServerFixture } from "../helpers/token-server-fixture.js";

const START = Date.UTC(2026, 0, 1);

/** The milliseconds left until the access token's `exp` claim, as seen at `nowMs`. */
function msLeft(p: TokenPair, nowMs: number): number {
  return (decodeClaims(p.accessToken).exp as number) * 1000 - nowMs;
}

function expectHonestExpiry(p: TokenPair, nowMs: number): void {
  // A client computing expiry = receipt + expires_in_seconds must never land after `exp`.
  expect(Number(p.expiresInSeconds) * 1000).toBeLessThanOrEqual(msLeft(p, nowMs));
  expect(Number(p.expiresInSeconds) * 1000).toBeGreaterThan(msLeft(p, nowMs) - 1000);
  expect(timestampMs(p.accessTokenExpireTime!)).toBe((decodeClaims(p.accessToken).exp as number) * 1000);
}

describe("access-token expiry is never overstated and never outlives the session", () => {
  let f: TokenServerFixture;
  afterEach(() => f.close());

  it.each([0, 1, 500, 999])("expires_in_seconds ≤ the time left until exp when issued %i ms into a second", async (offset) => {
    f = await createTokenServerFixture({ clock: createManualClock(START + offset) });
    const issued = (await f.issue({ subject: "a", accessTokenTtlSeconds: 20n })).tokenPair!;
    expectHonestExpiry(issued, f.clock.now());
    f.clock.advance(10_250);
    const rotated = (await f.tokens.refreshToken({ refreshToken: issued.refreshToken })).tokenPair!;
    expectHonestExpiry(rotated, f.clock.now());
  });

  it("a retry inside the grace window returns the identical tokens with the time left as of the retry", async () => {
    f = await createTokenServerFixture({ clock: createManualClock(START + 300) });
    const issued = (await f.issue({ subject: "a", accessTokenTtlSeconds: 60n })).tokenPair!;
    const first = (await f.tokens.refreshToken({ refreshToken: issued.refreshToken })).tokenPair!;
    f.clock.advance(20_000);
    const retry = (await f.tokens.refreshToken({ refreshToken: issued.refreshToken })).tokenPair!;
    expect(retry.accessToken).toBe(first.accessToken);
    expect(retry.refreshToken).toBe(first.refreshToken);
    expect(retry.accessTokenExpireTime).toEqual(first.accessTokenExpireTime);
    expectHonestExpiry(retry, f.clock.now());
  });

  it("access exp ≤ the refresh token's expiry: refresh TTL 600 s with the default 1 h access TTL", async () => {
    f = await createTokenServerFixture({ clock: createManualClock(START + 700) });
    const p = (await f.issue({ subject: "a", refreshTokenTtlSeconds: 600n })).tokenPair!;
    const at = decodeClaims(p.accessToken);
    expect(at.exp).toBe(refreshExpiry(p));
    expect(timestampMs(p.accessTokenExpireTime!)).toBeLessThanOrEqual(timestampMs(p.refreshTokenExpireTime!));
    expectHonestExpiry(p, f.clock.now());
  });

  it("access exp ≤ the family's absolute end, on every rotation up to it", async () => {
    f = await createTokenServerFixture({ absoluteLifetimeSeconds: 3600, accessTtlSeconds: 900 });
    const t0 = Math.floor(f.clock.now() / 1000);
    let p = (await f.issue({ subject: "a" })).tokenPair!;
    for (let i = 0; i < 6; i++) {
      const at = decodeClaims(p.accessToken);
      expect(at.exp as number).toBeLessThanOrEqual(t0 + 3600);
      expect(at.exp as number).toBeLessThanOrEqual(refreshExpiry(p));
      expectHonestExpiry(p, f.clock.now());
      f.clock.advance(590_000);
      p = (await f.tokens.refreshToken({ refreshToken: p.refreshToken })).tokenPair!;
    }
    // The last rotation happened 60 s before the absolute end: a 900 s token is cut to 60 s.
    expect(decodeClaims(p.accessToken).exp).toBe(t0 + 3600);
    expect(p.expiresInSeconds).toBe(60n);
  });
});

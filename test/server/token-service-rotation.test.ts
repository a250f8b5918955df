import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenServerFixture, refreshExpiry, type TokenServerFixture } from "../helpers/token-server-fixture.js";
import { expectConnectError } from "../helpers/expect-error.js";

describe("TokenService rotation, grace and reuse", () => {
  let f: TokenServerFixture;
  afterEach(() => f.close());

  async function issue(): Promise<TokenPair> {
    return (await f.issue({ subject: "alice", scopes: ["heartbeat:write"] })).tokenPair!;
  }

  it("50 concurrent refreshes of one token → one new generation; every caller gets the identical pair", async () => {
    f = await createTokenServerFixture();
    const p0 = await issue();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => f.tokens.refreshToken({ refreshToken: p0.refreshToken })),
    );
    const rejected = results.filter((r) => r.status === "rejected");
    expect(rejected).toEqual([]);
    const pairs = results.map((r) => (r as PromiseFulfilledResult<{ tokenPair?: TokenPair }>).value.tokenPair!);
    expect(new Set(pairs.map((p) => p.refreshToken)).size).toBe(1);
    expect(new Set(pairs.map((p) => p.accessToken)).size).toBe(1);
    expect(new Set(pairs.map((p) => p.expiresInSeconds)).size).toBe(1);
    // The family survived: the one successor rotates on, and its access token works.
    const p2 = (await f.tokens.refreshToken({ refreshToken: pairs[0]!.refreshToken })).tokenPair!;
    expect(p2.sessionId).toBe(p0.sessionId);
    await f.callAs(p2.accessToken);
  });

  it("re-presenting the predecessor inside grace returns the identical successor (idempotent)", async () => {
    f = await createTokenServerFixture({ gracePeriodSeconds: 30 });
    const p0 = await issue();
    const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    f.clock.advance(30_000);
    const again = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    // The same tokens; only the seconds left are counted from the retry.
    expect({ ...again, expiresInSeconds: p1.expiresInSeconds }).toEqual(p1);
    expect(again.expiresInSeconds).toBe(p1.expiresInSeconds - 30n);
    await f.callAs(p1.accessToken);
  });

  it("the predecessor after grace → REFRESH_TOKEN_REUSED, and the successor is dead too", async () => {
    f = await createTokenServerFixture({ gracePeriodSeconds: 30 });
    const p0 = await issue();
    const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    await f.callAs(p1.accessToken);
    f.clock.advance(31_000);
    await expectConnectError(
      f.tokens.refreshToken({ refreshToken: p0.refreshToken }),
      Code.Unauthenticated,
      AuthErrorReason.REFRESH_TOKEN_REUSED,
      [p0.refreshToken],
    );
    await expectConnectError(
      f.tokens.refreshToken({ refreshToken: p1.refreshToken }),
      Code.Unauthenticated,
      AuthErrorReason.REFRESH_TOKEN_REUSED,
    );
    await expectConnectError(f.callAs(p1.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
  });

  it("the grandparent inside grace → family revoked", async () => {
    f = await createTokenServerFixture({ gracePeriodSeconds: 30 });
    const p0 = await issue();
    const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    const p2 = (await f.tokens.refreshToken({ refreshToken: p1.refreshToken })).tokenPair!;
    f.clock.advance(1_000);
    await expectConnectError(
      f.tokens.refreshToken({ refreshToken: p0.refreshToken }),
      Code.Unauthenticated,
      AuthErrorReason.REFRESH_TOKEN_REUSED,
    );
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p2.refreshToken }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
    await expectConnectError(f.callAs(p2.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
  });

  it("grace 0 means any re-presentation is reuse", async () => {
    f = await createTokenServerFixture({ gracePeriodSeconds: 0 });
    const p0 = await issue();
    await f.tokens.refreshToken({ refreshToken: p0.refreshToken });
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p0.refreshToken }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
  });

  it("an expired refresh token → SESSION_EXPIRED", async () => {
    f = await createTokenServerFixture();
    const p0 = (await f.issue({ subject: "alice", refreshTokenTtlSeconds: 120n })).tokenPair!;
    f.clock.advance((120 + 61) * 1000);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p0.refreshToken }), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED, [p0.refreshToken]);
  });

  it("a refresh token rotates up to the second before its reported expiry, and at that second the session is over", async () => {
    f = await createTokenServerFixture();
    const p0 = (await f.issue({ subject: "alice", refreshTokenTtlSeconds: 120n })).tokenPair!;
    f.clock.set(refreshExpiry(p0) * 1000 - 1000);
    const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    f.clock.set(refreshExpiry(p1) * 1000);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p1.refreshToken }), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED, [p1.refreshToken]);
    // Expiry is not reuse: re-presenting the spent, now expired predecessor does not revoke anything.
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p0.refreshToken }), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED);
  });

  it("the absolute family lifetime caps every refresh token", async () => {
    f = await createTokenServerFixture({ absoluteLifetimeSeconds: 3600 });
    let p = (await f.issue({ subject: "alice", refreshTokenTtlSeconds: 86_400n })).tokenPair!;
    const start = Math.floor(f.clock.now() / 1000);
    f.clock.advance(3_000_000);
    p = (await f.tokens.refreshToken({ refreshToken: p.refreshToken })).tokenPair!;
    expect(refreshExpiry(p)).toBe(start + 3600);
    f.clock.advance(600_000);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p.refreshToken }), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED);
  });

  it("an empty refresh token is InvalidArgument; an access token presented to RefreshToken is TOKEN_INVALID", async () => {
    f = await createTokenServerFixture();
    const p0 = await issue();
    await expectConnectError(f.tokens.refreshToken({ refreshToken: "" }), Code.InvalidArgument);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p0.accessToken }), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [p0.accessToken]);
  });
});

import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { createRevocationCache } from "../../src/server/revocation-cache.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createTokenServerFixture, type TokenServerFixture } from "../helpers/token-server-fixture.js";

// A revoked session's long-lived access token must stay rejected for as long
// as it verifies, whatever the access TTL, across polls and restarts.
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe("revocations are retained as long as the longest access token lives", () => {
  let f: TokenServerFixture;
  afterEach(() => f.close());

  it("a revoked session's 7-day access token is still rejected after 25 h and after 6 days, then forgotten once it has expired", async () => {
    f = await createTokenServerFixture({ maxAccessTtlSeconds: 7 * 86_400 });
    const p = (
      await f.issue({ subject: "a", scopes: ["heartbeat:write"], accessTokenTtlSeconds: 7n * 86_400n, refreshTokenTtlSeconds: 8n * 86_400n })
    ).tokenPair!;
    expect(p.expiresInSeconds).toBe(7n * 86_400n);
    await f.callAs(p.accessToken);
    await f.tokens.revokeToken({ token: p.refreshToken });
    for (const at of [25 * HOUR, 6 * DAY, 7 * DAY - 1000]) {
      f.clock.set(Date.UTC(2026, 0, 1) + at);
      await f.revocations.sync();
      await expectConnectError(f.callAs(p.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
      // A server restarting now loads the revocation from the store.
      const restarted = createRevocationCache({ store: f.store, clock: f.clock });
      await restarted.ready;
      expect(restarted.isRevoked(p.sessionId)).toBe(true);
      restarted.close();
    }
    // Expired (and past any clock tolerance): the token fails on its own and the cache lets go.
    f.clock.set(Date.UTC(2026, 0, 1) + 7 * DAY + 2 * HOUR);
    await f.revocations.sync();
    await expectConnectError(f.callAs(p.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_EXPIRED);
    expect(f.revocations.isRevoked(p.sessionId)).toBe(false);
    expect(f.revocations.size).toBe(0);
  });

  it("a 1 h access token's revocation is not kept for days", async () => {
    f = await createTokenServerFixture();
    const p = (await f.issue({ subject: "a", scopes: ["heartbeat:write"] })).tokenPair!;
    await f.tokens.revokeToken({ token: p.accessToken });
    f.clock.advance(HOUR - 1000);
    await f.revocations.sync();
    expect(f.revocations.isRevoked(p.sessionId)).toBe(true);
    f.clock.advance(3 * HOUR);
    await f.revocations.sync();
    expect(f.revocations.size).toBe(0);
  });

  it("the access TTL has a ceiling: 90 days", async () => {
    f = await createTokenServerFixture();
    await expect(createTokenServerFixture({ maxAccessTtlSeconds: 91 * 86_400 })).rejects.toThrow(/maxAccessTtlSeconds/);
  });
});

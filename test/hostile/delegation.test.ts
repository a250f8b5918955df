import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createTokenServerFixture, decodeClaims, refreshExpiry, type TokenServerFixture } from "../helpers/token-server-fixture.js";

// A delegate holding a token with scope tokens:exchange tries to get a child
// that outlives or out-claims the session it was delegated from.
const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
const DAY = 86_400;
// Refresh tokens are opaque handles: their expiry is the one the response reports (and the store enforces).
const claims = (p: TokenPair) => ({ at: decodeClaims(p.accessToken), rt: { exp: refreshExpiry(p) } });

describe("ExchangeToken never widens: a child never outlives or out-claims its parent", () => {
  let f: TokenServerFixture;
  afterEach(() => f.close());

  async function principal(extra: { refreshTokenTtlSeconds?: bigint } = {}): Promise<TokenPair> {
    return (
      await f.issue({ subject: "alice", scopes: ["tokens:exchange", "heartbeat:write"], metadata: { tenant: "acme", role: "viewer" }, ...extra })
    ).tokenPair!;
  }

  it("the delegate cannot overwrite the principal's meta values (PermissionDenied naming the key); new keys and equal values are fine", async () => {
    f = await createTokenServerFixture();
    const parent = await principal();
    const err = await expectConnectError(
      f.tokens.exchangeToken({ actor: "agent", metadata: { role: "admin" } }, bearer(parent.accessToken)),
      Code.PermissionDenied,
      AuthErrorReason.INSUFFICIENT_SCOPE,
      [parent.accessToken],
    );
    expect(err.rawMessage).toContain('metadata["role"]');
    const child = (
      await f.tokens.exchangeToken({ actor: "agent", metadata: { role: "viewer", task: "sync" } }, bearer(parent.accessToken))
    ).tokenPair!;
    expect(claims(child).at.meta).toEqual({ tenant: "acme", role: "viewer", task: "sync" });
  });

  it("a requested refresh TTL beyond the parent's remaining life is cut to it, and reported so", async () => {
    f = await createTokenServerFixture();
    const parent = await principal({ refreshTokenTtlSeconds: 3600n });
    f.clock.advance(1_000_000); // 1000 s: the parent's refresh token has 2600 s left
    const child = (
      await f.tokens.exchangeToken({ actor: "agent", refreshTokenTtlSeconds: 30n * BigInt(DAY) }, bearer(parent.accessToken))
    ).tokenPair!;
    const parentEnd = claims(parent).rt.exp as number;
    expect(claims(child).rt.exp).toBe(parentEnd);
    expect(child.refreshTokenTtlSeconds).toBe(2600n);
    expect(claims(child).at.refresh_ttl).toBe(2600);
    expect(claims(child).at.exp as number).toBeLessThanOrEqual(parentEnd);
  });

  it("the child's session ends when the parent's would: it cannot slide past it by refreshing", async () => {
    f = await createTokenServerFixture();
    const parent = await principal({ refreshTokenTtlSeconds: 3600n });
    let child = (await f.tokens.exchangeToken({ actor: "agent", refreshTokenTtlSeconds: 600n }, bearer(parent.accessToken))).tokenPair!;
    const parentEnd = claims(parent).rt.exp as number;
    for (let i = 0; i < 6; i++) {
      f.clock.advance(590_000);
      child = (await f.tokens.refreshToken({ refreshToken: child.refreshToken })).tokenPair!;
      expect(claims(child).rt.exp as number).toBeLessThanOrEqual(parentEnd);
      expect(claims(child).at.exp as number).toBeLessThanOrEqual(parentEnd);
    }
    f.clock.set(parentEnd * 1000);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: child.refreshToken }), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED);
  });

  it("the child cannot restart the absolute family lifetime", async () => {
    f = await createTokenServerFixture({ absoluteLifetimeSeconds: DAY });
    const t0 = Math.floor(f.clock.now() / 1000);
    let parent = await principal({ refreshTokenTtlSeconds: BigInt(DAY) });
    f.clock.advance(20 * 3600 * 1000);
    parent = (await f.tokens.refreshToken({ refreshToken: parent.refreshToken })).tokenPair!;
    const child = (await f.tokens.exchangeToken({ actor: "agent" }, bearer(parent.accessToken))).tokenPair!;
    expect(claims(child).rt.exp).toBe(t0 + DAY);
    expect(child.refreshTokenTtlSeconds).toBe(BigInt(4 * 3600));
    f.clock.advance(4 * 3600 * 1000);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: child.refreshToken }), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED);
  });

  it("down a chain of depth 5 every link is bounded by the one above it", async () => {
    f = await createTokenServerFixture({ absoluteLifetimeSeconds: 30 * DAY });
    let link = await principal({ refreshTokenTtlSeconds: 7n * BigInt(DAY) });
    for (let depth = 1; depth <= 5; depth++) {
      f.clock.advance(3_600_000);
      await expectConnectError(
        f.tokens.exchangeToken({ actor: "x", metadata: { tenant: "other" } }, bearer(link.accessToken)),
        Code.PermissionDenied,
        AuthErrorReason.INSUFFICIENT_SCOPE,
      );
      const next = (
        await f.tokens.exchangeToken(
          { actor: `agent-${depth}`, refreshTokenTtlSeconds: 90n * BigInt(DAY), metadata: { [`hop${depth}`]: "x" } },
          bearer(link.accessToken),
        )
      ).tokenPair!;
      const up = claims(link);
      const down = claims(next);
      expect(down.rt.exp as number).toBeLessThanOrEqual(up.rt.exp as number);
      expect(down.at.exp as number).toBeLessThanOrEqual(up.rt.exp as number);
      expect(next.refreshTokenTtlSeconds).toBeLessThanOrEqual(link.refreshTokenTtlSeconds);
      for (const [k, v] of Object.entries(up.at.meta as Record<string, string>)) {
        expect((down.at.meta as Record<string, string>)[k]).toBe(v);
      }
      link = next;
    }
  });
});

import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTokenServerFixture, decodeClaims, refreshExpiry, type TokenServerFixture } from "../helpers/token-server-fixture.js";
import { expectConnectError } from "../helpers/expect-error.js";

const DAY = 86_400;

describe("TokenService TTL rules", () => {
  let f: TokenServerFixture;
  beforeEach(async () => {
    f = await createTokenServerFixture();
  });
  afterEach(() => f.close());

  it.each([
    ["30 days", 30n * BigInt(DAY), 2_592_000],
    ["365 days is capped to 90 days", 365n * BigInt(DAY), 7_776_000],
    ["absent means 24 h", undefined, 86_400],
    ["0 means 24 h", 0n, 86_400],
    ["exactly the 60 s minimum", 60n, 60],
  ])("%s", async (_name, requested, effective) => {
    const { tokenPair: p } = await f.issue({ subject: "alice", refreshTokenTtlSeconds: requested });
    expect(refreshExpiry(p!)).toBe(Math.floor(f.clock.now() / 1000) + effective);
    expect(decodeClaims(p!.accessToken).refresh_ttl).toBe(effective);
    expect(p!.refreshTokenTtlSeconds).toBe(BigInt(effective));
    expect(timestampMs(p!.refreshTokenExpireTime!)).toBe(f.clock.now() - (f.clock.now() % 1000) + effective * 1000);
  });

  it.each([
    ["negative refresh TTL", { refreshTokenTtlSeconds: -1n }, "refresh_token_ttl_seconds"],
    ["refresh TTL below 60 s", { refreshTokenTtlSeconds: 59n }, "refresh_token_ttl_seconds"],
    ["negative access TTL", { accessTokenTtlSeconds: -5n }, "access_token_ttl_seconds"],
  ])("%s → InvalidArgument naming the field", async (_n, ttl, field) => {
    const err = await expectConnectError(f.issue({ subject: "alice", ...ttl }), Code.InvalidArgument);
    expect(err.rawMessage).toContain(field);
  });

  it("access TTL: absent → 3600, above the max → capped to 86 400", async () => {
    const a = (await f.issue({ subject: "a" })).tokenPair!;
    expect(a.expiresInSeconds).toBe(3600n);
    const b = (await f.issue({ subject: "a", accessTokenTtlSeconds: 10n * BigInt(DAY) })).tokenPair!;
    expect(b.expiresInSeconds).toBe(86_400n);
    const claims = decodeClaims(b.accessToken);
    expect((claims.exp as number) - (claims.iat as number)).toBe(86_400);
  });

  it("a missing subject is InvalidArgument", async () => {
    const err = await expectConnectError(f.issue({ subject: "" }), Code.InvalidArgument);
    expect(err.rawMessage).toContain("subject");
  });

  it("after one and after five rotations TTL, scopes, audiences and metadata are unchanged and the expiry slides", async () => {
    const issued = (
      await f.issue({
        subject: "agent-7",
        scopes: ["heartbeat:write", "events:write"],
        audiences: ["https://api.test", "https://tokens.test"],
        metadata: { host: "build-3", team: "infra" },
        refreshTokenTtlSeconds: 30n * BigInt(DAY),
        accessTokenTtlSeconds: 600n,
      })
    ).tokenPair!;
    let pair = issued;
    for (let i = 1; i <= 5; i++) {
      f.clock.advance(3_600_000);
      pair = (await f.tokens.refreshToken({ refreshToken: pair.refreshToken })).tokenPair!;
      const at = decodeClaims(pair.accessToken);
      expect(pair.refreshTokenTtlSeconds).toBe(2_592_000n);
      expect(pair.expiresInSeconds).toBe(600n);
      expect(pair.scopes).toEqual(["heartbeat:write", "events:write"]);
      expect(pair.sessionId).toBe(issued.sessionId);
      expect(at.scope).toBe("heartbeat:write events:write");
      expect(at.aud).toEqual(["https://api.test", "https://tokens.test"]);
      expect(at.meta).toEqual({ host: "build-3", team: "infra" });
      expect(at.refresh_ttl).toBe(2_592_000);
      expect(at.sid).toBe(issued.sessionId);
      // Sliding: the new refresh token lives a full TTL from this rotation.
      expect(refreshExpiry(pair)).toBe(Math.floor(f.clock.now() / 1000) + 2_592_000);
      if (i === 1 || i === 5) {
        expect(at.sub).toBe("agent-7");
      }
    }
  });

  it("ExchangeToken applies the same TTL rules (within the parent's life) and keeps them through rotation", async () => {
    const parent = (
      await f.issue({ subject: "alice", scopes: ["tokens:exchange", "events:write"], refreshTokenTtlSeconds: 90n * BigInt(DAY) })
    ).tokenPair!;
    const auth = { headers: { authorization: `Bearer ${parent.accessToken}` } };
    const capped = (await f.tokens.exchangeToken({ actor: "agent", refreshTokenTtlSeconds: 365n * BigInt(DAY) }, auth)).tokenPair!;
    expect(capped.refreshTokenTtlSeconds).toBe(7_776_000n);
    await expectConnectError(f.tokens.exchangeToken({ actor: "agent", refreshTokenTtlSeconds: -1n }, auth), Code.InvalidArgument);
    const child = (await f.tokens.exchangeToken({ actor: "agent", refreshTokenTtlSeconds: 30n * BigInt(DAY), metadata: { run: "42" } }, auth)).tokenPair!;
    let pair = child;
    for (let i = 0; i < 5; i++) {
      f.clock.advance(60_000);
      pair = (await f.tokens.refreshToken({ refreshToken: pair.refreshToken })).tokenPair!;
    }
    const at = decodeClaims(pair.accessToken);
    expect(pair.refreshTokenTtlSeconds).toBe(2_592_000n);
    expect(refreshExpiry(pair)).toBe(Math.floor(f.clock.now() / 1000) + 2_592_000);
    expect(at.act).toEqual({ sub: "agent" });
    expect(at.sub).toBe("alice");
    expect(at.meta).toEqual({ run: "42" });
    expect(at.scope).toBe("tokens:exchange events:write");
  });
});

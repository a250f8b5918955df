import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { TokenPairSchema } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createManualClock } from "../helpers/manual-clock.js";
import { createTokenServerFixture, decodeClaims } from "../helpers/token-server-fixture.js";

/** An unsigned JWT-shaped token with the given claims (the client only reads them). */
const jwt = (claims: object) => `e30.${btoa(JSON.stringify(claims)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.sig`;

describe("token service refresher: the lifetime never passes a readable exp", () => {
  it.each([0, 1, 250, 500, 999])("a real token server at %i ms past a whole second: expiresAt ≤ exp", async (offsetMs) => {
    const clock = createManualClock(Date.UTC(2026, 0, 1) + offsetMs);
    const server = await createTokenServerFixture({ clock });
    const pair = (await server.issue({ subject: "a", accessTokenTtlSeconds: 20n })).tokenPair!;
    const refresh = createTokenServiceRefresher(server.transport, { clock });
    const next = await refresh({ accessToken: pair.accessToken, refreshToken: pair.refreshToken, receivedAt: 0, expiresAt: 0 }, {
      signal: new AbortController().signal,
      cause: "initial",
    });
    const exp = decodeClaims(next.accessToken).exp as number;
    expect(next.expiresAt).toBeLessThanOrEqual(exp * 1000);
    expect(next.expiresAt).toBeGreaterThan(exp * 1000 - 1000);
    await server.close();
  });

  it("a server whose clock is 10 min off: the lifetime is exp − iat on the local clock, never longer than expires_in", () => {
    const local = Date.UTC(2026, 0, 1, 12);
    const serverNow = local / 1000 + 600;
    const pair = create(TokenPairSchema, {
      accessToken: jwt({ iat: serverNow, exp: serverNow + 60 }),
      expiresInSeconds: 3600n,
      accessTokenExpireTime: timestampFromMs((serverNow + 60) * 1000),
    });
    expect(tokenPairToStoredToken(pair, local).expiresAt).toBe(local + 60_000);
  });

  it("an opaque access token: expires_in_seconds alone", () => {
    const pair = create(TokenPairSchema, { accessToken: "opaque", expiresInSeconds: 3600n });
    expect(tokenPairToStoredToken(pair, 1000).expiresAt).toBe(1000 + 3_600_000);
  });
});

describe("token service refresher: construction", () => {
  it("validates its target with a TypeError naming the option", () => {
    expect(() => createTokenServiceRefresher({ baseUrl: "127.0.0.1:8080" })).toThrow(/"baseUrl"/);
    expect(() => createTokenServiceRefresher(undefined as never)).toThrow(/baseUrl/);
  });
});

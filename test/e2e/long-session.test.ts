import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createAuthInterceptor } from "../../src/client/auth-interceptor.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createTokenSource } from "../../src/client/token-source.js";
import { createBearerAuthInterceptor, claimsKey } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createRevocationCache } from "../../src/server/revocation-cache.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createTokenService } from "../../src/server/token-service.js";
import { startLoopbackServer, type LoopbackServer } from "../helpers/loopback-server.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

const ISSUER = "http://tokenkit.e2e";
const ADMIN = "e2e-admin-key-0123456789";

describe("a long session over a real loopback HTTP/2 server never breaks", () => {
  const clock = createManualClock();
  let server: LoopbackServer;
  let heartbeats = 0;
  beforeAll(async () => {
    const store = createMemoryFamilyStore();
    const keyRing = await createKeyRing({ store: createMemoryKeyStore(), clock });
    const revocations = createRevocationCache({ store, clock });
    server = await startLoopbackServer((router) => {
      router.service(TokenService, createTokenService({ store, keyRing, issuer: ISSUER, adminKey: ADMIN, revocations, clock }));
      router.service(
        HeartbeatService,
        {
          heartbeat(_req, ctx) {
            heartbeats++;
            expect(ctx.values.get(claimsKey)!.sub).toBe("agent");
            return {};
          },
        },
        {
          interceptors: [
            createBearerAuthInterceptor({
              verifier: createAccessTokenVerifier({ keys: keyRing, issuer: ISSUER, audience: ISSUER, clock }),
              revocations,
              scopes: { "tokenkit.v1.HeartbeatService": ["heartbeat:write"] },
            }),
          ],
        },
      );
    });
  });
  afterAll(() => server.close());

  it.each([
    ["Connect over h2c", (interceptors: Interceptor[]) => createConnectTransport({ baseUrl: server.url, httpVersion: "2", interceptors })],
    ["gRPC", (interceptors: Interceptor[]) => createGrpcTransport({ baseUrl: server.url, interceptors })],
    ["gRPC-Web over h2c", (interceptors: Interceptor[]) => createGrpcWebTransport({ baseUrl: server.url, httpVersion: "2", interceptors })],
  ])("%s: 50 access-token expirations, zero failed calls, every refresh counted", async (_name, makeTransport) => {
    const tokens = createClient(TokenService, makeTransport([]));
    const pair = (
      await tokens.issueToken(
        { subject: "agent", scopes: ["heartbeat:write"], accessTokenTtlSeconds: 60n, refreshTokenTtlSeconds: 120n },
        { headers: { "x-api-key": ADMIN } },
      )
    ).tokenPair!;
    const events: TokenSourceEvent[] = [];
    // Refreshes and calls share one transport: the refresh skips the auth interceptor through skipAuthKey.
    const interceptors: Interceptor[] = [];
    const transport = makeTransport(interceptors);
    const refresh = createTokenServiceRefresher(transport, { clock });
    let pending = 0;
    const source = createTokenSource({
      refresh: async (current, ctx) => {
        pending++;
        try {
          return await refresh(current, ctx);
        } finally {
          pending--;
        }
      },
      initial: tokenPairToStoredToken(pair, clock.now()),
      clock,
      onEvent: (e) => events.push(e),
    });
    interceptors.push(createAuthInterceptor(source, { clock }));
    const client = createClient(HeartbeatService, transport);
    const start = clock.now();
    const before = heartbeats;
    let failures = 0;
    let calls = 0;
    while (clock.now() - start < 50 * 60_000) {
      clock.advance(10_000);
      calls++;
      await client.heartbeat({ instanceId: "i-1" }).catch(() => failures++);
      // Let a background refresh finish its real network I/O before time moves on.
      await until(() => pending === 0);
    }
    const refreshes = events.filter((e) => e.type === "refresh");
    expect(failures).toBe(0);
    expect(heartbeats - before).toBe(calls);
    expect(refreshes.every((e) => (e as { outcome: string }).outcome === "success")).toBe(true);
    // 60 s tokens are fresh for 45 s; with a call every 10 s the first call past that point (at 50 s)
    // starts the refresh: one rotation every 50 s, 60 in 3000 s.
    expect(refreshes.length).toBeGreaterThanOrEqual(58);
    expect(refreshes.length).toBeLessThanOrEqual(61);
    source.close();
  });
});

import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createAuthInterceptor } from "../../src/client/auth-interceptor.js";
import { createOAuthRefresher } from "../../src/client/oauth/oauth-refresher.js";
import { tokenResponseToStoredToken } from "../../src/client/oauth/token-response.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenSource } from "../../src/client/token-source.js";
import { createBearerAuthInterceptor } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { startLoopbackServer, type LoopbackServer } from "../helpers/loopback-server.js";
import { createDateClock, settle, type DateClock } from "./date-clock.js";
import { API, CLIENTS, startOidcProvider, type OidcProviderFixture } from "./oidc-provider-fixture.js";

// A tokenkit client keeps a session alive against panva's oidc-provider (real HTTP on loopback), calling a
// Connect API whose bearer-auth interceptor verifies the provider's RFC 9068 access tokens with its JWKS.
// Only `Date` is faked: the provider, the verifier and the token source all read the same moved clock.
const TTL = 60;
const LIFETIMES = 22;

interface Api {
  server: LoopbackServer;
  rejected: number;
}

async function startApi(op: OidcProviderFixture, clock: DateClock): Promise<Api> {
  // No clock tolerance: an access token is accepted only while it really lives.
  const verify = createAccessTokenVerifier({ jwksUrl: op.jwksUri, issuer: op.issuer, audience: API, clock, clockToleranceSeconds: 0 });
  const api = { rejected: 0 } as Api;
  const counting: typeof verify = (token, opts) =>
    verify(token, opts).catch((err: unknown) => {
      api.rejected++;
      throw err;
    });
  api.server = await startLoopbackServer((router) =>
    router.service(HeartbeatService, { heartbeat: () => ({}) }, { interceptors: [createBearerAuthInterceptor({ verifier: counting })] }),
  );
  return api;
}

function session(op: OidcProviderFixture, clock: DateClock, api: Api, first: Awaited<ReturnType<OidcProviderFixture["login"]>>) {
  const oidc = createOAuthRefresher({
    issuer: op.issuer,
    clientId: CLIENTS.basic.client_id,
    clientSecret: CLIENTS.basic.client_secret,
    allowInsecureRequests: true,
    clock,
  });
  const events: TokenSourceEvent[] = [];
  let inflight: Promise<unknown> | undefined;
  // A retry timer that fires inside clock.advance starts a refresh over real HTTP: let it finish first.
  clock.busy = () => inflight?.catch(() => {}) ?? Promise.resolve();
  const source = createTokenSource({
    refresh: (current, ctx) => (inflight = oidc.refresh(current, ctx)),
    initial: tokenResponseToStoredToken(first, clock.now()),
    clock,
    // No jitter: the refresh points and retry delays are the same on every run.
    random: () => 0.5,
    onEvent: (e) => events.push(e),
  });
  const hb = createClient(
    HeartbeatService,
    createConnectTransport({ baseUrl: api.server.url, httpVersion: "2", interceptors: [createAuthInterceptor(source, { clock })] }),
  );
  /** call makes one API call, then lets a background refresh it started finish. */
  const call = async () => {
    try {
      await hb.heartbeat({ instanceId: "oidc" });
    } finally {
      await inflight?.catch(() => {});
      inflight = undefined;
      await settle();
    }
  };
  return { oidc, source, events, call };
}

describe.each([
  { rotate: true, name: "with refresh-token rotation" },
  { rotate: false, name: "without rotation" },
])("a session against oidc-provider $name", ({ rotate }) => {
  let op: OidcProviderFixture;
  let clock: DateClock;
  let api: Api;
  beforeAll(async () => {
    clock = createDateClock();
    op = await startOidcProvider({ rotate, accessTokenTtl: TTL });
    api = await startApi(op, clock);
  });
  afterAll(async () => {
    await api.server.close();
    await op.close();
    vi.useRealTimers();
  });

  it(`lives through ${LIFETIMES} access-token lifetimes with zero failed calls, about one refresh per lifetime`, async () => {
    const first = await op.login("basic");
    const s = session(op, clock, api, first);
    const before = op.tokenRequests;
    const refreshTokens = new Set([first.refresh_token]);
    let failed = 0;
    for (let i = 0; i < LIFETIMES * 4; i++) {
      await clock.advance((TTL * 1000) / 4);
      await s.call().catch(() => failed++);
      refreshTokens.add(s.source.current()!.refreshToken);
    }
    expect(failed).toBe(0);
    expect(api.rejected).toBe(0);
    const refreshes = op.tokenRequests - before;
    expect(refreshes).toBeGreaterThanOrEqual(LIFETIMES);
    expect(refreshes).toBeLessThanOrEqual(LIFETIMES * 2);
    expect(s.events.filter((e) => e.type === "refresh" && e.outcome !== "success")).toEqual([]);
    // Rotation on: a new refresh token each time; off: the first one, kept because none came back.
    expect(refreshTokens.size).toBe(rotate ? refreshes + 1 : 1);
    s.source.close();
  });

  it("signs out through RFC 7009: the revoked refresh token gets invalid_grant — one refresh request, one session-expired event, callers get Unauthenticated", async () => {
    const s = session(op, clock, api, await op.login("basic"));
    await s.call();
    expect(await s.oidc.revoke(s.source.current())).toBe(true);
    const before = op.tokenRequests;
    await clock.advance(TTL * 1000);
    const failures = await Promise.all([1, 2, 3].map(() => s.call().then(() => undefined, (e: unknown) => e)));
    for (const err of failures) {
      await expectConnectError(Promise.reject(err), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED, [s.source.current()!.accessToken]);
    }
    await clock.advance(10 * TTL * 1000);
    await expectConnectError(s.call(), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED);
    expect(op.tokenRequests - before).toBe(1);
    expect(s.events.filter((e) => e.type === "session_expired")).toHaveLength(1);
    expect(s.source.state).toBe("session_expired");
    s.source.close();
  });

  it("survives a token endpoint answering 503 for a while: the still-valid token is served, then refreshing resumes", async () => {
    const s = session(op, clock, api, await op.login("basic"));
    let failed = 0;
    for (let i = 0; i < 8; i++) {
      await clock.advance(5_000);
      await s.call().catch(() => failed++);
    }
    // The outage starts just before the refresh point (a quarter of the 60 s life before expiry):
    // every refresh fails while the token, still valid, keeps being served.
    op.fault = { status: 503, retryAfter: "5" };
    const before = op.tokenRequests;
    for (let i = 0; i < 2; i++) {
      await clock.advance(5_000);
      await s.call().catch(() => failed++);
    }
    expect(op.tokenRequests - before).toBeGreaterThanOrEqual(2);
    const transient = s.events.filter((e) => e.type === "refresh" && e.outcome === "transient_failure");
    expect(transient.length).toBe(op.tokenRequests - before);
    expect(transient[0]).toMatchObject({ error: { code: Code.Unavailable } });
    op.fault = undefined;
    for (let i = 0; i < 8; i++) {
      await clock.advance(5_000);
      await s.call().catch(() => failed++);
    }
    expect(failed).toBe(0);
    expect(api.rejected).toBe(0);
    expect(s.events.at(-1)).toMatchObject({ type: "refresh", outcome: "success" });
    expect(s.source.state).toBe("active");
    s.source.close();
  });
});

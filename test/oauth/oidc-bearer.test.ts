import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createBearerAuthInterceptor, claimsKey } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { startLoopbackServer, type LoopbackServer } from "../helpers/loopback-server.js";
import { createDateClock, type DateClock } from "./date-clock.js";
import { API, startOidcProvider, type OidcProviderFixture } from "./oidc-provider-fixture.js";

// tokenkit's bearer-auth interceptor protecting a Connect API with oidc-provider's RFC 9068 access tokens,
// verified with the provider's JWKS over HTTP: genuine tokens pass, tampered ones fail with the right reason.
const TTL = 60;
let op: OidcProviderFixture;
let other: OidcProviderFixture;
let clock: DateClock;
let api: LoopbackServer;
let strangerApi: LoopbackServer;
const subjects: string[] = [];

async function protectedApi(issuer: string, audience: string): Promise<LoopbackServer> {
  const verifier = createAccessTokenVerifier({ jwksUrl: op.jwksUri, issuer, audience, clock });
  return startLoopbackServer((router) =>
    router.service(
      HeartbeatService,
      {
        heartbeat(_req, ctx) {
          subjects.push(ctx.values.get(claimsKey)!.sub);
          return {};
        },
      },
      { interceptors: [createBearerAuthInterceptor({ verifier, scopes: { "tokenkit.v1.HeartbeatService": ["api:write"] } })] },
    ),
  );
}

function call(server: LoopbackServer, token: string) {
  const hb = createClient(HeartbeatService, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
  return hb.heartbeat({ instanceId: "x" }, { headers: { authorization: `Bearer ${token}` } });
}

beforeAll(async () => {
  clock = createDateClock();
  op = await startOidcProvider({ rotate: true, accessTokenTtl: TTL });
  other = await startOidcProvider({ rotate: true, accessTokenTtl: TTL });
  api = await protectedApi(op.issuer, API);
  strangerApi = await protectedApi(op.issuer, "https://someone-else.test");
});
afterAll(async () => {
  await api.close();
  await strangerApi.close();
  await op.close();
  await other.close();
  vi.useRealTimers();
});

describe("the bearer-auth interceptor with oidc-provider's access tokens", () => {
  it("accepts a genuine token (no sid, no tokenkit claims) and hands its subject to the handler", async () => {
    await call(api, (await op.login("basic")).access_token);
    expect(subjects).toEqual(["alice"]);
  });

  it("rejects a forged token (payload changed, signature kept) with TOKEN_INVALID", async () => {
    const [h, p, s] = (await op.login("basic")).access_token.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "mallory" })).toString("base64url")}.${s}`;
    await expectConnectError(call(api, forged), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [forged]);
  });

  it("rejects an expired token (past the 60 s tolerance) with TOKEN_EXPIRED", async () => {
    const token = (await op.login("basic")).access_token;
    await clock.advance((TTL + 61) * 1000);
    await expectConnectError(call(api, token), Code.Unauthenticated, AuthErrorReason.TOKEN_EXPIRED, [token]);
  });

  it("rejects a token for another audience with TOKEN_INVALID", async () => {
    const token = (await op.login("basic")).access_token;
    await expectConnectError(call(strangerApi, token), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [token]);
  });

  it("rejects a token of another issuer with TOKEN_INVALID", async () => {
    const token = (await other.login("basic")).access_token;
    await expectConnectError(call(api, token), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [token]);
  });
});

import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { Code } from "@connectrpc/connect";
import { createBearerAuthInterceptor, claimsKey } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { createKeyRing, type KeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createTokenService } from "../../src/server/token-service.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { startLoopbackServer, type LoopbackServer } from "../helpers/loopback-server.js";

const ISSUER = "http://issuer.test";
const ADMIN = "remote-admin-key-0123456789";

describe("bearer auth in another server, with keys from the token server's JWKS over HTTP", () => {
  let tokenServer: LoopbackServer;
  let api: LoopbackServer;
  let keyRing: KeyRing;
  let jwksFetches = 0;
  let jwks: HttpServer;
  beforeAll(async () => {
    keyRing = await createKeyRing({ store: createMemoryKeyStore(), activationDelaySeconds: 0 });
    tokenServer = await startLoopbackServer((router) =>
      router.service(TokenService, createTokenService({ store: createMemoryFamilyStore(), keyRing, issuer: ISSUER, adminKey: ADMIN })),
    );
    // The JWKS over plain HTTP/1.1, as jose's fetch asks for it.
    jwks = createHttpServer((req, res) => {
      if (req.url === "/.well-known/jwks.json") {
        jwksFetches++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(keyRing.jwks()));
        return;
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    // No cooldown, so the test sees the refetch after a rotation without waiting 30 s of real time.
    const verifier = createAccessTokenVerifier({ jwksUrl, jwksCooldownMs: 0, issuer: ISSUER, audience: ISSUER });
    api = await startLoopbackServer((router) =>
      router.service(HeartbeatService, { heartbeat: (_r, ctx) => ({ interval: { seconds: BigInt(ctx.values.get(claimsKey)!.sub.length), nanos: 0 } }) }, {
        interceptors: [createBearerAuthInterceptor({ verifier })],
      }),
    );
  });
  afterAll(async () => {
    await api.close();
    await tokenServer.close();
    await new Promise((r) => jwks.close(r));
  });

  it("verifies tokens with the fetched JWKS (fetched once), and picks up a rotated key", async () => {
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: tokenServer.url, httpVersion: "2" }));
    const heartbeat = createClient(HeartbeatService, createConnectTransport({ baseUrl: api.url, httpVersion: "2" }));
    const issue = async () => (await tokens.issueToken({ subject: "alice" }, { headers: { "x-api-key": ADMIN } })).tokenPair!.accessToken;
    const auth = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
    const a = await issue();
    expect((await heartbeat.heartbeat({}, auth(a))).interval!.seconds).toBe(5n);
    await heartbeat.heartbeat({}, auth(a));
    expect(jwksFetches).toBe(1);
    await keyRing.rotate();
    const b = await issue();
    await heartbeat.heartbeat({}, auth(b));
    expect(jwksFetches).toBe(2);
    await expectConnectError(heartbeat.heartbeat({}, auth(b.slice(0, -4) + "AAAA")), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID);
  });

  it("an unreachable JWKS is Unavailable, not an auth failure", async () => {
    const verifier = createAccessTokenVerifier({ jwksUrl: "http://127.0.0.1:9/.well-known/jwks.json", issuer: ISSUER, audience: ISSUER });
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: tokenServer.url, httpVersion: "2" }));
    const t = (await tokens.issueToken({ subject: "alice" }, { headers: { "x-api-key": ADMIN } })).tokenPair!.accessToken;
    const interceptor = createBearerAuthInterceptor({ verifier });
    const next = async () => ({}) as never;
    const err = await interceptor(next)({
      service: HeartbeatService,
      method: HeartbeatService.method.heartbeat,
      header: new Headers({ authorization: `Bearer ${t}` }),
      contextValues: { get: () => undefined, set: () => undefined },
    } as never).catch((e: unknown) => e);
    expect((err as { code: Code }).code).toBe(Code.Unavailable);
  });

  it("rejects options naming both or neither key source", () => {
    expect(() => createAccessTokenVerifier({ issuer: ISSUER, audience: ISSUER })).toThrow(/keys.*jwksUrl/);
    expect(() => createAccessTokenVerifier({ keys: keyRing, jwksUrl: "http://x", issuer: ISSUER, audience: ISSUER })).toThrow(/exactly one/);
    expect(() => createAccessTokenVerifier({ jwksUrl: "not a url", issuer: ISSUER, audience: ISSUER })).toThrow(/absolute URL/);
  });
});

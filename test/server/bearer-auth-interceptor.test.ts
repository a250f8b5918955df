import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { claimsKey, createBearerAuthInterceptor, type BearerAuthInterceptorOptions } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier, type AccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import type { AccessTokenClaims } from "../../src/server/jwt/claims.js";
import { createKeyRing, type KeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createRevocationCache } from "../../src/server/revocation-cache.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createTokenSigner } from "../../src/server/token-signer.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createManualClock } from "../helpers/manual-clock.js";

const ISSUER = "https://bearer.test";
const SERVICE = "tokenkit.v1.HeartbeatService";

async function setup(options: Omit<BearerAuthInterceptorOptions, "verifier"> & { wrap?: (v: AccessTokenVerifier) => AccessTokenVerifier } = {}) {
  const clock = createManualClock();
  const ring = await createKeyRing({ store: createMemoryKeyStore(), clock });
  let checks = 0;
  // Counts signature checks: each one looks the key up once.
  const counting: KeyRing = { ...ring, verificationKey: (kid) => (checks++, ring.verificationKey(kid)) };
  const verifier = createAccessTokenVerifier({ keys: counting, issuer: ISSUER, audience: ISSUER, clock });
  const seen: AccessTokenClaims[] = [];
  const { wrap, ...rest } = options;
  const interceptor = createBearerAuthInterceptor({ verifier: wrap ? wrap(verifier) : verifier, ...rest });
  const client = createClient(
    HeartbeatService,
    createRouterTransport((router) =>
      router.service(HeartbeatService, { heartbeat: (_req, ctx) => (seen.push(ctx.values.get(claimsKey)!), {}) }, { interceptors: [interceptor] }),
    ),
  );
  const sign = createTokenSigner(ring);
  const now = () => Math.floor(clock.now() / 1000);
  const token = (ttl = 3600, scope = "a b") =>
    sign({ iss: ISSUER, aud: ISSUER, sub: "alice", sid: "s1", jti: crypto.randomUUID(), iat: now(), exp: now() + ttl, scope, meta: {} }, "at+jwt");
  const call = (authorization?: string) => client.heartbeat({}, authorization === undefined ? {} : { headers: { authorization } });
  return { clock, call, token, seen, verifier, checks: () => checks };
}

describe("bearer-auth interceptor", () => {
  it("answers a token's repeated calls from the verified-token cache, with the same frozen claims", async () => {
    const t = await setup({ scopes: { [SERVICE]: ["a"] } });
    const tok = await t.token();
    await t.call(`Bearer ${tok}`);
    await t.call(`Bearer ${tok}`);
    await t.call(`Bearer ${tok}`);
    expect(t.checks()).toBe(1);
    expect(t.seen).toHaveLength(3);
    expect(t.seen[2]).toBe(t.seen[0]);
    expect(t.seen[0]).toMatchObject({ sub: "alice", sid: "s1", scopes: ["a", "b"] });
  });

  it("refuses a cached token as soon as its family is revoked", async () => {
    const clock = createManualClock();
    const revocations = createRevocationCache({ store: createMemoryFamilyStore(), clock });
    const t = await setup({ revocations });
    const tok = await t.token();
    await t.call(`Bearer ${tok}`);
    await t.call(`Bearer ${tok}`);
    revocations.add(["s1"], Math.floor(t.clock.now() / 1000));
    await expectConnectError(t.call(`Bearer ${tok}`), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED, [tok]);
    expect(t.checks()).toBe(1);
    revocations.close();
  });

  it("waits for the revocation cache's first load before accepting a cached token", async () => {
    const clock = createManualClock();
    const store = createMemoryFamilyStore();
    const now = Math.floor(clock.now() / 1000);
    const family = { sid: "s1", subject: "alice", scopes: [], audiences: [ISSUER], metadata: {}, accessTtlSeconds: 3600, refreshTtlSeconds: 86_400, createdAt: now };
    await store.createFamily(family, { hash: "h1", sid: "s1", issuedAt: now, expiresAt: now + 100 });
    await store.revokeFamily("s1", now, "revoked");
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The first load, which would see the revocation, stays pending until the test releases it.
    const revocations = createRevocationCache({ store: { ...store, revocationsSince: async (since: number) => (await gate, store.revocationsSince(since)) }, clock });
    const t = await setup({ revocations });
    const tok = await t.token();
    await t.verifier(tok); // cached, as if an earlier call had verified it
    let settled = false;
    const call = t.call(`Bearer ${tok}`).finally(() => (settled = true));
    await new Promise((r) => setImmediate(r)); // the call reaches the interceptor and waits there
    expect(settled).toBe(false);
    release();
    await expectConnectError(call, Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    expect(t.checks()).toBe(1);
    revocations.close();
  });

  it("still refuses a cached token past its expiry (plus the verifier's tolerance)", async () => {
    const t = await setup();
    const tok = await t.token(120);
    await t.call(`Bearer ${tok}`);
    t.clock.advance(179_000);
    await t.call(`Bearer ${tok}`);
    t.clock.advance(1_000);
    await expectConnectError(t.call(`Bearer ${tok}`), Code.Unauthenticated, AuthErrorReason.TOKEN_EXPIRED, [tok]);
  });

  it("applies the service's and the procedure's scopes to cached and uncached calls alike", async () => {
    const t = await setup({ scopes: { [SERVICE]: ["a"], [`${SERVICE}/Heartbeat`]: ["c"] } });
    const tok = await t.token(3600, "a b");
    for (let i = 0; i < 2; i++) {
      const err = await expectConnectError(t.call(`Bearer ${tok}`), Code.PermissionDenied, AuthErrorReason.INSUFFICIENT_SCOPE);
      expect(err.rawMessage).toBe('access token lacks scope "c"');
    }
    await t.call(`Bearer ${await t.token(3600, "a c")}`);
    expect(t.seen).toHaveLength(1);
  });

  it("accepts every spelling of the header grammar, and rejects a missing or malformed one", async () => {
    const t = await setup();
    const tok = await t.token();
    await t.call(`bearer   ${tok}  `);
    await t.call(`BEARER ${tok}`);
    await t.call(`Bearer ${tok}`);
    expect(t.seen).toHaveLength(3);
    await expectConnectError(t.call(), Code.Unauthenticated, AuthErrorReason.TOKEN_MISSING);
    await expectConnectError(t.call("Bearer"), Code.Unauthenticated, AuthErrorReason.TOKEN_MALFORMED);
    await expectConnectError(t.call(`Bearer ${tok} x`), Code.Unauthenticated, AuthErrorReason.TOKEN_MALFORMED, [tok]);
    await expectConnectError(t.call(`Basic ${tok}`), Code.Unauthenticated, AuthErrorReason.TOKEN_MALFORMED, [tok]);
  });

  it("awaits a verifier it did not build (no cache lookup of its own) on every call", async () => {
    let calls = 0;
    const t = await setup({ wrap: (v) => (token, opts) => (calls++, v(token, opts)) });
    const tok = await t.token();
    await t.call(`Bearer ${tok}`);
    await t.call(`Bearer ${tok}`);
    expect(calls).toBe(2);
    expect(t.checks()).toBe(1);
  });

  it("lets public procedures through without a token", async () => {
    const t = await setup({ publicProcedures: [`${SERVICE}/Heartbeat`] });
    await t.call();
    await t.call("Bearer not-a-token");
    expect(t.seen).toEqual([undefined, undefined]);
  });
});

import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createBearerAuthInterceptor, claimsKey } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier, type AccessTokenVerifierOptions } from "../../src/server/jwt/access-token-verifier.js";
import type { AccessTokenClaims } from "../../src/server/jwt/claims.js";
import { TokenVerificationError } from "../../src/server/jwt/token-verifier.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createManualClock } from "../helpers/manual-clock.js";

// Access tokens as another issuer (an OIDC provider) signs them: RFC 9068 claims only, no tokenkit claims.
const ISSUER = "https://idp.example.com/";
const AUDIENCE = "https://api.example.com";
const clock = createManualClock(Date.UTC(2026, 5, 1));
const nowS = () => Math.floor(clock.now() / 1000);

let privateKey: CryptoKey;
let keys: ReturnType<typeof createLocalJWKSet>;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256");
  privateKey = pair.privateKey;
  keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "idp-1", alg: "RS256" }] });
});

async function sign(claims: JWTPayload = {}, header: { typ?: string | null } = {}): Promise<string> {
  const typ = header.typ === undefined ? "at+jwt" : header.typ;
  const payload = { iss: ISSUER, aud: AUDIENCE, sub: "user-42", jti: crypto.randomUUID(), iat: nowS(), exp: nowS() + 300, client_id: "cli", scope: "read write", ...claims };
  return new SignJWT(payload)
    .setProtectedHeader(typ === null ? { alg: "RS256", kid: "idp-1" } : { alg: "RS256", kid: "idp-1", typ })
    .sign(privateKey);
}

function verifier(extra: Partial<AccessTokenVerifierOptions> = {}) {
  return createAccessTokenVerifier({ keys, issuer: ISSUER, audience: AUDIENCE, clock, cacheSize: 0, ...extra });
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenVerificationError);
  return AuthErrorReason[(err as TokenVerificationError).reason];
}

describe("standard RFC 9068 access tokens from another issuer", () => {
  it("accepts a token without sid, refresh_ttl or meta, with scopes from the space-separated scope claim", async () => {
    const claims = await verifier()(await sign());
    expect(claims).toMatchObject({ iss: ISSUER, sub: "user-42", aud: [AUDIENCE], sid: "", scopes: ["read", "write"], refreshTtl: 0, meta: {} });
  });

  it("rejects typ JWT and a missing typ unless the operator opts in with acceptPlainJwt", async () => {
    expect(await reasonOf(verifier()(await sign({}, { typ: "JWT" })))).toBe("TOKEN_INVALID");
    expect(await reasonOf(verifier()(await sign({}, { typ: null })))).toBe("TOKEN_INVALID");
    expect((await verifier({ acceptPlainJwt: true })(await sign({}, { typ: "JWT" }))).sub).toBe("user-42");
    expect((await verifier({ acceptPlainJwt: true })(await sign({}, { typ: null }))).sub).toBe("user-42");
    // The opt-in never lets a refresh token (typ rt+jwt) through.
    expect(await reasonOf(verifier({ acceptPlainJwt: true })(await sign({}, { typ: "rt+jwt" })))).toBe("TOKEN_INVALID");
  });

  it("reads scp (array or space-separated string) only where the operator opts in with acceptScp", async () => {
    const arr = await sign({ scope: undefined, scp: ["read", "admin"] });
    const str = await sign({ scope: undefined, scp: "read admin" });
    expect((await verifier()(arr)).scopes).toEqual([]);
    expect((await verifier({ acceptScp: true })(arr)).scopes).toEqual(["read", "admin"]);
    expect((await verifier({ acceptScp: true })(str)).scopes).toEqual(["read", "admin"]);
    expect(await reasonOf(verifier({ acceptScp: true })(await sign({ scope: undefined, scp: [1, 2] })))).toBe("TOKEN_INVALID");
  });

  it("still rejects a non-string sid and malformed tokenkit claims when present", async () => {
    expect(await reasonOf(verifier()(await sign({ sid: 7 })))).toBe("TOKEN_INVALID");
    expect(await reasonOf(verifier()(await sign({ meta: "x" })))).toBe("TOKEN_INVALID");
  });

  it("rejects forged, expired, wrong-audience and wrong-issuer tokens with the right reason", async () => {
    const other = await generateKeyPair("RS256");
    const forged = await new SignJWT({ scope: "read" })
      .setProtectedHeader({ alg: "RS256", kid: "idp-1", typ: "at+jwt" })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject("user-42").setJti("j").setIssuedAt(nowS()).setExpirationTime(nowS() + 300)
      .sign(other.privateKey);
    expect(await reasonOf(verifier()(forged))).toBe("TOKEN_INVALID");
    expect(await reasonOf(verifier()(await sign({ exp: nowS() - 120 })))).toBe("TOKEN_EXPIRED");
    expect(await reasonOf(verifier()(await sign({ aud: "https://other.example.com" })))).toBe("TOKEN_INVALID");
    expect(await reasonOf(verifier()(await sign({ iss: "https://evil.example.com/" })))).toBe("TOKEN_INVALID");
  });

  it("rejects options of the wrong type, quoting the option name", () => {
    expect(() => verifier({ acceptPlainJwt: "yes" as never })).toThrow(/option "acceptPlainJwt"/);
    expect(() => verifier({ acceptScp: 1 as never })).toThrow(/option "acceptScp"/);
  });
});

describe("the bearer-auth interceptor with another issuer's tokens", () => {
  function client() {
    const seen: AccessTokenClaims[] = [];
    const transport = createRouterTransport(({ service }) =>
      service(
        HeartbeatService,
        {
          heartbeat(_req, ctx) {
            seen.push(ctx.values.get(claimsKey)!);
            return {};
          },
        },
        { interceptors: [createBearerAuthInterceptor({ verifier: verifier(), scopes: { "tokenkit.v1.HeartbeatService": ["write"] } })] },
      ),
    );
    return { seen, hb: createClient(HeartbeatService, transport) };
  }

  it("lets a call through with the provider's token and hands the claims to the handler", async () => {
    const { seen, hb } = client();
    await hb.heartbeat({ instanceId: "a" }, { headers: { authorization: `Bearer ${await sign()}` } });
    expect(seen[0]).toMatchObject({ sub: "user-42", sid: "", scopes: ["read", "write"] });
  });

  it("answers forged, expired, wrong-audience, wrong-issuer and under-scoped tokens with the right code and reason", async () => {
    const { hb } = client();
    const call = async (token: string) => hb.heartbeat({ instanceId: "a" }, { headers: { authorization: `Bearer ${token}` } });
    const expired = await sign({ exp: nowS() - 120 });
    await expectConnectError(call(expired), Code.Unauthenticated, AuthErrorReason.TOKEN_EXPIRED, [expired]);
    const wrongAud = await sign({ aud: "https://other.example.com" });
    await expectConnectError(call(wrongAud), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [wrongAud]);
    const wrongIss = await sign({ iss: "https://evil.example.com/" });
    await expectConnectError(call(wrongIss), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [wrongIss]);
    const good = await sign();
    const forged = `${good.slice(0, good.lastIndexOf(".") + 1)}${"A".repeat(342)}`;
    await expectConnectError(call(forged), Code.Unauthenticated, AuthErrorReason.TOKEN_INVALID, [forged]);
    await expectConnectError(call(await sign({ scope: "read" })), Code.PermissionDenied, AuthErrorReason.INSUFFICIENT_SCOPE);
  });
});

import { Code } from "@connectrpc/connect";
import { SignJWT, generateKeyPair, base64url } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { ISSUER, createTokenServerFixture, decodeClaims, decodeHeader, type TokenServerFixture } from "../helpers/token-server-fixture.js";
import { expectConnectError } from "../helpers/expect-error.js";

const { TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_MALFORMED, TOKEN_MISSING, TOKEN_REVOKED, INSUFFICIENT_SCOPE } = AuthErrorReason;

describe("bearer verification rejects attacks with the documented code and reason", () => {
  let f: TokenServerFixture;
  let pair: TokenPair;
  let claims: Record<string, unknown>;
  beforeEach(async () => {
    f = await createTokenServerFixture();
    pair = (await f.issue({ subject: "alice", scopes: ["heartbeat:write"] })).tokenPair!;
    claims = decodeClaims(pair.accessToken);
  });
  afterEach(() => f.close());

  /** Signs `payload` with the server's real key, with header overrides. */
  function forge(payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    const { kid, alg, key } = f.keyRing.signingKey();
    return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: "at+jwt", ...header }).sign(key);
  }

  const unauth = (token: string, reason: AuthErrorReason) =>
    expectConnectError(f.callAs(token), Code.Unauthenticated, reason, [token]);

  it("accepts the genuine token (control)", async () => {
    await f.callAs(pair.accessToken);
  });

  it("alg none", async () => {
    const header = base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt", kid: decodeHeader(pair.accessToken).kid }));
    const body = pair.accessToken.split(".")[1];
    await unauth(`${header}.${body}.`, TOKEN_MALFORMED);
    await unauth(`${header}.${body}.AAAA`, TOKEN_INVALID);
  });

  it("HS256 signed with the server's public key", async () => {
    const jwk = f.keyRing.jwks().keys[0]!;
    const secret = new TextEncoder().encode(JSON.stringify(jwk));
    const raw = base64url.decode(jwk.x as string);
    for (const key of [secret, raw]) {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: jwk.kid as string }).sign(key);
      await unauth(token, TOKEN_INVALID);
    }
  });

  it("wrong typ: a refresh token presented as a bearer", async () => {
    await unauth(pair.refreshToken, TOKEN_INVALID);
  });

  it("wrong typ: missing or different typ header", async () => {
    await unauth(await forge(claims, { typ: "JWT" }), TOKEN_INVALID);
    await unauth(await forge(claims, { typ: "application/at+jwt" }), TOKEN_INVALID);
  });

  it("bit-flipped signature", async () => {
    const [h, p, s] = pair.accessToken.split(".");
    const sig = base64url.decode(s!);
    sig[5]! ^= 0x01;
    await unauth(`${h}.${p}.${base64url.encode(sig)}`, TOKEN_INVALID);
  });

  it("bit-flipped payload", async () => {
    const [h, , s] = pair.accessToken.split(".");
    const p = base64url.encode(JSON.stringify({ ...claims, scope: "heartbeat:write admin" }));
    await unauth(`${h}.${p}.${s}`, TOKEN_INVALID);
  });

  it("wrong issuer and wrong audience", async () => {
    await unauth(await forge({ ...claims, iss: "https://evil.test" }), TOKEN_INVALID);
    await unauth(await forge({ ...claims, aud: "https://other.test" }), TOKEN_INVALID);
  });

  it("expired beyond the 60 s tolerance, but not within it", async () => {
    const now = Math.floor(f.clock.now() / 1000);
    await f.callAs(await forge({ ...claims, iat: now - 3600, exp: now - 59 }));
    await unauth(await forge({ ...claims, iat: now - 3600, exp: now - 61 }), TOKEN_EXPIRED);
    // The real token, after its lifetime.
    f.clock.advance((3600 + 61) * 1000);
    await unauth(pair.accessToken, TOKEN_EXPIRED);
  });

  it("iat in the future beyond tolerance", async () => {
    const now = Math.floor(f.clock.now() / 1000);
    await unauth(await forge({ ...claims, iat: now + 120, exp: now + 3600 }), TOKEN_INVALID);
  });

  it("missing required claims", async () => {
    // sid is optional (standard RFC 9068 tokens of other issuers have none); a malformed one is rejected.
    await unauth(await forge({ ...claims, sid: 42 }), TOKEN_INVALID);
    for (const drop of ["exp", "iat", "jti", "sub"]) {
      const c = { ...claims };
      delete c[drop];
      await unauth(await forge(c), TOKEN_INVALID);
    }
  });

  it("oversized token (over 8 KiB) is rejected before parsing", async () => {
    await unauth(await forge({ ...claims, pad: "x".repeat(9000) }), TOKEN_MALFORMED);
  });

  it("unknown kid, and a key the server never had", async () => {
    await unauth(await forge(claims, { kid: "nope" }), TOKEN_INVALID);
    const other = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const t = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", typ: "at+jwt", kid: decodeHeader(pair.accessToken).kid as string }).sign(other.privateKey);
    await unauth(t, TOKEN_INVALID);
  });

  it("jku, x5u, jwk headers", async () => {
    for (const h of [{ jku: "https://evil.test/jwks" }, { x5u: "https://evil.test/cert" }, { jwk: { kty: "OKP", crv: "Ed25519", x: "AA" } }]) {
      await unauth(await forge(claims, h), TOKEN_INVALID);
    }
  });

  it("garbage, missing and non-Bearer authorization", async () => {
    await unauth("not-a-jwt", TOKEN_MALFORMED);
    await unauth("a.b.c", TOKEN_MALFORMED);
    await expectConnectError(f.heartbeat.heartbeat({}), Code.Unauthenticated, TOKEN_MISSING);
    await expectConnectError(
      f.heartbeat.heartbeat({}, { headers: { authorization: `Basic ${pair.accessToken}` } }),
      Code.Unauthenticated,
      TOKEN_MALFORMED,
      [pair.accessToken],
    );
  });

  it("a revoked family", async () => {
    await f.tokens.revokeToken({ token: pair.refreshToken });
    await unauth(pair.accessToken, TOKEN_REVOKED);
  });

  it("a token without the required scope → PermissionDenied + INSUFFICIENT_SCOPE", async () => {
    const noScope = (await f.issue({ subject: "bob", scopes: ["events:read"] })).tokenPair!;
    await expectConnectError(f.callAs(noScope.accessToken), Code.PermissionDenied, INSUFFICIENT_SCOPE);
  });

  it("a forged refresh handle naming a live session's id neither rotates nor revokes it", async () => {
    // The handle carries the family id in clear; only the stored hash of the whole handle makes it valid.
    const genuine = pair.refreshToken;
    const forged = `tkr_${"A".repeat(43)}${pair.sessionId}`;
    await expectConnectError(f.tokens.refreshToken({ refreshToken: forged }), Code.Unauthenticated, TOKEN_INVALID, [forged]);
    await f.tokens.revokeToken({ token: forged }); // RFC 7009: OK, and nothing revoked
    const flipped = genuine.slice(0, 10) + (genuine[10] === "A" ? "B" : "A") + genuine.slice(11);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: flipped }), Code.Unauthenticated, TOKEN_INVALID, [flipped]);
    await f.callAs(pair.accessToken);
    const next = (await f.tokens.refreshToken({ refreshToken: genuine })).tokenPair!;
    expect(next.sessionId).toBe(pair.sessionId);
  });

  it("the issuer's own refresh-token audience is not an access audience", async () => {
    await unauth(await forge({ ...claims, aud: `${ISSUER}/tokenkit.v1.TokenService` }), TOKEN_INVALID);
  });
});

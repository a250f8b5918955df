import { Code, ConnectError } from "@connectrpc/connect";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { createOAuthRefresher } from "../../src/client/oauth/oauth-refresher.js";
import type { OAuthRefresherOptions } from "../../src/client/oauth/oauth-options.js";
import { accessTokenLifetimeSeconds, tokenResponseToStoredToken } from "../../src/client/oauth/token-response.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { API, CLIENTS, NO_REFRESH_CLIENT, startOidcProvider, type OidcProviderFixture } from "./oidc-provider-fixture.js";

// The refresher against a real oidc-provider on loopback, one request at a time: every client authentication
// method, and each way a token endpoint can fail mapped to the token-source contract.
let op: OidcProviderFixture;
const ctx = () => ({ signal: new AbortController().signal, cause: "proactive" as const });

beforeAll(async () => {
  op = await startOidcProvider({ rotate: true, accessTokenTtl: 300 });
});
afterAll(() => op.close());

function refresher(extra: Partial<OAuthRefresherOptions> = {}) {
  return createOAuthRefresher({
    issuer: op.issuer,
    clientId: CLIENTS.basic.client_id,
    clientSecret: CLIENTS.basic.client_secret,
    allowInsecureRequests: true,
    ...extra,
  });
}

async function loggedIn(client: keyof typeof CLIENTS = "basic"): Promise<StoredToken> {
  return tokenResponseToStoredToken(await op.login(client), Date.now());
}

/** failWith makes the token endpoint answer `status` with `body` and `retryAfter` for one refresh and returns the error. */
async function failWith(status: number, body?: string, retryAfter?: string): Promise<ConnectError> {
  const current = await loggedIn();
  op.fault = { status, body, retryAfter };
  try {
    return await refresher().refresh(current, ctx()).then(
      () => expect.fail("the refresh should fail"),
      (e: unknown) => e as ConnectError,
    );
  } finally {
    op.fault = undefined;
  }
}

describe("createOAuthRefresher against oidc-provider", () => {
  it.each([
    ["client_secret_basic", "basic", { clientSecret: CLIENTS.basic.client_secret }],
    ["client_secret_post", "post", { clientId: CLIENTS.post.client_id, clientSecret: CLIENTS.post.client_secret, clientAuthentication: "client_secret_post" }],
    ["none (a public client)", "public", { clientId: CLIENTS.public.client_id, clientSecret: undefined }],
    ["private_key_jwt", "jwt", { clientId: CLIENTS.jwt.client_id, clientSecret: undefined, privateKey: op?.clientKey }],
  ] as const)("refreshes with client authentication %s; the new access token verifies with the provider's JWKS", async (_name, client, extra) => {
    const current = await loggedIn(client);
    const opts = client === "jwt" ? { ...extra, privateKey: op.clientKey } : extra;
    const next = await refresher(opts as Partial<OAuthRefresherOptions>).refresh(current, ctx());
    expect(next.accessToken).not.toBe(current.accessToken);
    expect(next.refreshToken).not.toBe(current.refreshToken);
    expect(next.expiresAt - next.receivedAt).toBe(300_000);
    const claims = await createAccessTokenVerifier({ jwksUrl: op.jwksUri, issuer: op.issuer, audience: API })(next.accessToken);
    expect(claims.scopes).toEqual(expect.arrayContaining(["api:read", "api:write"]));
  });

  it("sends scope and resource (RFC 8707) on the refresh, narrowing the new token", async () => {
    const next = await refresher({ scope: ["openid", "offline_access", "api:read"], resource: API }).refresh(await loggedIn(), ctx());
    const claims = await createAccessTokenVerifier({ jwksUrl: op.jwksUri, issuer: op.issuer, audience: API })(next.accessToken);
    expect(claims.scopes).toEqual(["api:read"]);
  });

  it("discovers through RFC 8414 as well as OpenID Connect discovery, or uses explicit endpoints", async () => {
    expect((await refresher({ discovery: "oauth2" }).metadata()).token_endpoint).toBe(`${op.issuer}/token`);
    const explicit = refresher({ issuer: undefined, tokenEndpoint: `${op.issuer}/token`, revocationEndpoint: `${op.issuer}/token/revocation` });
    const next = await explicit.refresh(await loggedIn(), ctx());
    expect(await explicit.revoke(next)).toBe(true);
    expect(await refresher({ issuer: undefined, tokenEndpoint: `${op.issuer}/token` }).revoke(next)).toBe(false);
  });

  it("maps invalid_grant to the terminal session-expired error", async () => {
    const current = await loggedIn();
    await refresher().revoke(current);
    await expectConnectError(refresher().refresh(current, ctx()), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED, [current.refreshToken!]);
  });

  it("maps interaction_required, login_required and consent_required (a new interactive login is needed) to session expired", async () => {
    for (const error of ["interaction_required", "login_required", "consent_required"]) {
      const err = await failWith(400, JSON.stringify({ error }));
      expect([Code[err.code], err.message]).toEqual(["Unauthenticated", expect.stringContaining(error)]);
      await expectConnectError(Promise.reject(err), Code.Unauthenticated, AuthErrorReason.SESSION_EXPIRED);
    }
  });

  it("maps invalid_client (wrong secret, unknown client) to a terminal configuration error naming the setting", async () => {
    const current = await loggedIn();
    const secret = "wrong-secret-0123456789abcdefgh";
    for (const opts of [{ clientSecret: secret }, { clientId: "nobody", clientSecret: secret }, { clientSecret: secret, clientAuthentication: "client_secret_post" as const }]) {
      const err = await expectConnectError(refresher(opts).refresh(current, ctx()), Code.FailedPrecondition, undefined, [current.refreshToken!, secret]);
      expect(err.message).toMatch(/invalid_client.*clientId/);
      expect(err.message).not.toContain(secret);
    }
  });

  it("maps a client without the refresh_token grant (oidc-provider answers invalid_request) to a terminal configuration error", async () => {
    const current = await loggedIn();
    const err = await expectConnectError(
      refresher({ clientId: NO_REFRESH_CLIENT.client_id, clientSecret: NO_REFRESH_CLIENT.client_secret }).refresh(current, ctx()),
      Code.FailedPrecondition,
    );
    expect(err.message).toContain("invalid_request");
  });

  it("maps unauthorized_client, unsupported_grant_type and invalid_scope (as other providers send them) to terminal configuration errors", async () => {
    for (const error of ["unauthorized_client", "unsupported_grant_type", "invalid_scope"]) {
      const err = await failWith(400, JSON.stringify({ error, error_description: "echoes a secret-ish value" }));
      expect(Code[err.code]).toBe("FailedPrecondition");
      expect(err.message).toContain(`(${error})`);
      expect(err.message).not.toContain("secret-ish");
    }
  });

  it("maps 503, 500 and 429 to transient Unavailable, with Retry-After in seconds in the error metadata", async () => {
    const e503 = await failWith(503, "down", "7");
    expect([Code[e503.code], e503.metadata.get("retry-after")]).toEqual(["Unavailable", "7"]);
    const e500 = await failWith(500, JSON.stringify({ error: "server_error" }));
    expect([Code[e500.code], e500.metadata.get("retry-after")]).toEqual(["Unavailable", null]);
    const e429 = await failWith(429, JSON.stringify({ error: "slow_down" }), new Date(Date.now() + 30_000).toUTCString());
    expect(Code[e429.code]).toBe("Unavailable");
    expect(Number(e429.metadata.get("retry-after"))).toBeGreaterThanOrEqual(29);
    expect(Number(e429.metadata.get("retry-after"))).toBeLessThanOrEqual(31);
  });

  it("maps a malformed token response to a terminal configuration error, never a crash, with no token text", async () => {
    const leaked = "eyJhbGciOiJFUzI1NiJ9.leaked-access-token-text.signature";
    for (const body of ["not json", "{}", JSON.stringify({ access_token: leaked, token_type: "mac" }), JSON.stringify({ access_token: leaked, token_type: "Bearer", expires_in: "soon" })]) {
      const err = await failWith(200, body);
      expect(Code[err.code], body).toBe("FailedPrecondition");
      expect(err.message).not.toContain("leaked");
      expect(JSON.stringify(err.cause ?? null)).not.toContain("leaked");
    }
    const e404 = await failWith(404, "not here");
    expect([Code[e404.code], e404.message]).toEqual(["FailedPrecondition", expect.stringContaining("HTTP 404")]);
  });

  it("maps an unreachable token endpoint or issuer to transient Unavailable", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const current = await loggedIn();
    await expectConnectError(refresher({ issuer: undefined, tokenEndpoint: `${url}/token` }).refresh(current, ctx()), Code.Unavailable, undefined, [current.refreshToken!]);
    await expectConnectError(refresher({ issuer: url }).refresh(current, ctx()), Code.Unavailable);
  });

  it("retries a failed discovery on the next refresh (through the fetch option)", async () => {
    const urls: string[] = [];
    const flaky: typeof fetch = async (input, init) => {
      urls.push(String(input));
      if (urls.length === 1) throw new TypeError("fetch failed");
      return fetch(input, init);
    };
    const r = refresher({ fetch: flaky });
    const current = await loggedIn();
    await expectConnectError(r.refresh(current, ctx()), Code.Unavailable);
    await expect(r.refresh(current, ctx())).resolves.toMatchObject({ accessToken: expect.any(String) });
    expect(urls.map((u) => new URL(u).pathname)).toEqual(["/.well-known/openid-configuration", "/.well-known/openid-configuration", "/token"]);
  });

  it("ends a refresh aborted by the token source's signal with Canceled (or the signal's own error)", async () => {
    const controller = new AbortController();
    controller.abort(new ConnectError("token refresh timed out", Code.DeadlineExceeded));
    await expectConnectError(refresher().refresh(await loggedIn(), { signal: controller.signal, cause: "proactive" }), Code.DeadlineExceeded);
  });

  it("without a refresh token asks for a login (TOKEN_MISSING), without a request", async () => {
    const before = op.tokenRequests;
    await expectConnectError(refresher().refresh({ accessToken: "a", receivedAt: 0, expiresAt: 1 }, ctx()), Code.Unauthenticated, AuthErrorReason.TOKEN_MISSING);
    expect(op.tokenRequests).toBe(before);
  });

  it("rejects bad options at construction, quoting the option name", () => {
    const base = { issuer: "https://idp.example.com", clientId: "c" };
    expect(() => createOAuthRefresher({ ...base, clientId: "" })).toThrow(/option "clientId"/);
    expect(() => createOAuthRefresher({ clientId: "c" })).toThrow(/"issuer" and "tokenEndpoint"/);
    expect(() => createOAuthRefresher({ ...base, issuer: "nope" })).toThrow(/option "issuer"/);
    expect(() => createOAuthRefresher({ ...base, clientAuthentication: "client_secret_basic" })).toThrow(/option "clientSecret"/);
    expect(() => createOAuthRefresher({ ...base, clientAuthentication: "private_key_jwt" })).toThrow(/option "privateKey"/);
    expect(() => createOAuthRefresher({ ...base, clientAuthentication: "tls" as never })).toThrow(/option "clientAuthentication"/);
    expect(() => createOAuthRefresher({ ...base, scope: [""] })).toThrow(/option "scope"/);
    expect(() => createOAuthRefresher({ ...base, resource: "api" })).toThrow(/option "resource"/);
    expect(() => createOAuthRefresher({ ...base, discovery: "saml" as never })).toThrow(/option "discovery"/);
  });

  it("refuses http endpoints unless allowInsecureRequests, as a configuration error", async () => {
    const err = await expectConnectError(refresher({ allowInsecureRequests: false }).refresh(await loggedIn(), ctx()), Code.FailedPrecondition);
    expect(err.message).toContain("allowInsecureRequests");
  });
});

describe("token lifetime", () => {
  const key = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
  const jwt = (iat: number, exp: number) => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuedAt(iat).setExpirationTime(exp).sign(key);

  it("comes from expires_in, never past the access token's exp − iat, and is skew-safe", async () => {
    // A provider clock a day ahead changes nothing: both are durations.
    const day = 86_400;
    expect(accessTokenLifetimeSeconds(await jwt(1_000_000 + day, 1_000_030 + day), 60)).toBe(30);
    expect(accessTokenLifetimeSeconds(await jwt(1_000_000, 1_000_300), 60)).toBe(60);
    expect(accessTokenLifetimeSeconds(await jwt(1_000_000, 1_000_300), undefined)).toBe(300);
    expect(accessTokenLifetimeSeconds("opaque-token", 90)).toBe(90);
    expect(accessTokenLifetimeSeconds("opaque-token", undefined)).toBe(300);
  });

  it("keeps the refresh token and scopes when a non-rotating provider sends none", () => {
    const previous: StoredToken = { accessToken: "a1", refreshToken: "r1", receivedAt: 0, expiresAt: 1, scopes: ["x"], refreshExpiresAt: 99_000 };
    const t = tokenResponseToStoredToken({ access_token: "a2", token_type: "bearer", expires_in: 60 }, 1000, previous);
    expect(t).toEqual({ accessToken: "a2", refreshToken: "r1", receivedAt: 1000, expiresAt: 61_000, scopes: ["x"], refreshExpiresAt: 99_000 });
    const rotated = tokenResponseToStoredToken({ access_token: "a3", token_type: "bearer", refresh_token: "r2", refresh_expires_in: 1800, scope: "y z" }, 1000, previous);
    expect(rotated).toMatchObject({ refreshToken: "r2", refreshExpiresAt: 1_801_000, scopes: ["y", "z"] });
  });
});

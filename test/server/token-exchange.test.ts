import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenServerFixture, decodeClaims, type TokenServerFixture } from "../helpers/token-server-fixture.js";
import { expectConnectError } from "../helpers/expect-error.js";

describe("ExchangeToken (RFC 8693 delegation)", () => {
  let f: TokenServerFixture;
  let parent: TokenPair;
  const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
  beforeEach(async () => {
    f = await createTokenServerFixture();
    parent = (
      await f.issue({
        subject: "alice",
        scopes: ["tokens:exchange", "heartbeat:write", "events:read"],
        audiences: ["https://tokens.test", "https://api.test"],
        metadata: { org: "acme" },
      })
    ).tokenPair!;
  });
  afterEach(() => f.close());

  it("narrows scopes and audiences and sets act with sub kept as the principal", async () => {
    const child = (
      await f.tokens.exchangeToken({ actor: "agent-1", scopes: ["heartbeat:write"], audiences: ["https://tokens.test"] }, bearer(parent.accessToken))
    ).tokenPair!;
    const c = decodeClaims(child.accessToken);
    expect(c.sub).toBe("alice");
    expect(c.act).toEqual({ sub: "agent-1" });
    expect(c.scope).toBe("heartbeat:write");
    expect(c.aud).toBe("https://tokens.test");
    expect(c.meta).toEqual({ org: "acme" });
    expect(child.sessionId).not.toBe(parent.sessionId);
    expect(JSON.parse(await f.callAs(child.accessToken))).toEqual({ sub: "alice", sid: child.sessionId, act: { sub: "agent-1" } });
  });

  it("empty scopes and audiences mean the caller's", async () => {
    const child = (await f.tokens.exchangeToken({ actor: "agent-1" }, bearer(parent.accessToken))).tokenPair!;
    const c = decodeClaims(child.accessToken);
    expect(c.scope).toBe("tokens:exchange heartbeat:write events:read");
    expect(c.aud).toEqual(["https://tokens.test", "https://api.test"]);
  });

  it("scope escalation → PermissionDenied + INSUFFICIENT_SCOPE", async () => {
    await expectConnectError(
      f.tokens.exchangeToken({ actor: "agent-1", scopes: ["heartbeat:write", "admin"] }, bearer(parent.accessToken)),
      Code.PermissionDenied,
      AuthErrorReason.INSUFFICIENT_SCOPE,
      [parent.accessToken],
    );
  });

  it("audience escalation → PermissionDenied + INSUFFICIENT_SCOPE", async () => {
    await expectConnectError(
      f.tokens.exchangeToken({ actor: "agent-1", audiences: ["https://bank.test"] }, bearer(parent.accessToken)),
      Code.PermissionDenied,
      AuthErrorReason.INSUFFICIENT_SCOPE,
    );
  });

  it("a caller without tokens:exchange → PermissionDenied; without a bearer → TOKEN_MISSING; missing actor → InvalidArgument", async () => {
    const plain = (await f.issue({ subject: "bob", scopes: ["heartbeat:write"] })).tokenPair!;
    await expectConnectError(f.tokens.exchangeToken({ actor: "x" }, bearer(plain.accessToken)), Code.PermissionDenied, AuthErrorReason.INSUFFICIENT_SCOPE);
    await expectConnectError(f.tokens.exchangeToken({ actor: "x" }), Code.Unauthenticated, AuthErrorReason.TOKEN_MISSING);
    await expectConnectError(f.tokens.exchangeToken({ actor: "" }, bearer(parent.accessToken)), Code.InvalidArgument);
  });

  it("chains nest act, and a chain deeper than 5 is refused", async () => {
    let token = parent.accessToken;
    for (let depth = 1; depth <= 5; depth++) {
      token = (await f.tokens.exchangeToken({ actor: `agent-${depth}` }, bearer(token))).tokenPair!.accessToken;
    }
    const c = decodeClaims(token);
    expect(c.sub).toBe("alice");
    expect(c.act).toEqual({ sub: "agent-5", act: { sub: "agent-4", act: { sub: "agent-3", act: { sub: "agent-2", act: { sub: "agent-1" } } } } });
    await f.callAs(token);
    await expectConnectError(f.tokens.exchangeToken({ actor: "agent-6" }, bearer(token)), Code.InvalidArgument);
  });

  it("revoking the parent kills the child (and grandchild), its refresh tokens and access tokens", async () => {
    const child = (await f.tokens.exchangeToken({ actor: "agent-1" }, bearer(parent.accessToken))).tokenPair!;
    const grandchild = (await f.tokens.exchangeToken({ actor: "agent-2" }, bearer(child.accessToken))).tokenPair!;
    await f.tokens.revokeToken({ token: parent.accessToken });
    for (const p of [child, grandchild]) {
      await expectConnectError(f.callAs(p.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
      await expectConnectError(f.tokens.refreshToken({ refreshToken: p.refreshToken }), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    }
  });

  it("reuse of the parent's refresh token revokes the delegated children too", async () => {
    const child = (await f.tokens.exchangeToken({ actor: "agent-1" }, bearer(parent.accessToken))).tokenPair!;
    await f.tokens.refreshToken({ refreshToken: parent.refreshToken });
    f.clock.advance(31_000);
    await expectConnectError(f.tokens.refreshToken({ refreshToken: parent.refreshToken }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
    await expectConnectError(f.callAs(child.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
  });

  it("revoking the child leaves the parent alive", async () => {
    const child = (await f.tokens.exchangeToken({ actor: "agent-1", scopes: ["heartbeat:write"] }, bearer(parent.accessToken))).tokenPair!;
    await f.tokens.revokeToken({ token: child.refreshToken });
    await expectConnectError(f.callAs(child.accessToken), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    await f.callAs(parent.accessToken);
  });
});

describe("IssueToken authorization and RevokeToken semantics", () => {
  let f: TokenServerFixture;
  beforeEach(async () => {
    f = await createTokenServerFixture();
  });
  afterEach(() => f.close());

  it("needs the admin key or a bearer with tokens:issue", async () => {
    await expectConnectError(f.tokens.issueToken({ subject: "a" }), Code.Unauthenticated, AuthErrorReason.TOKEN_MISSING);
    await expectConnectError(
      f.tokens.issueToken({ subject: "a" }, { headers: { "x-api-key": "wrong-key-wrong-key" } }),
      Code.Unauthenticated,
      AuthErrorReason.TOKEN_INVALID,
      ["wrong-key-wrong-key"],
    );
    const issuer = (await f.issue({ subject: "ci", scopes: ["tokens:issue"] })).tokenPair!;
    const viaBearer = await f.tokens.issueToken({ subject: "a" }, { headers: { authorization: `Bearer ${issuer.accessToken}` } });
    expect(decodeClaims(viaBearer.tokenPair!.accessToken).sub).toBe("a");
    const plain = (await f.issue({ subject: "b" })).tokenPair!;
    await expectConnectError(
      f.tokens.issueToken({ subject: "a" }, { headers: { authorization: `Bearer ${plain.accessToken}` } }),
      Code.PermissionDenied,
      AuthErrorReason.INSUFFICIENT_SCOPE,
    );
  });

  it("rejects scopes with spaces and oversized metadata as InvalidArgument", async () => {
    await expectConnectError(f.issue({ subject: "a", scopes: ["a b"] }), Code.InvalidArgument);
    await expectConnectError(f.issue({ subject: "a", metadata: { k: "v".repeat(5000) } }), Code.InvalidArgument);
  });

  it("revoke: empty → InvalidArgument; garbage or unknown → OK; a refresh token revokes its family", async () => {
    await expectConnectError(f.tokens.revokeToken({ token: "" }), Code.InvalidArgument);
    await f.tokens.revokeToken({ token: "garbage" });
    await f.tokens.revokeToken({ token: "a.b.c" });
    const p = (await f.issue({ subject: "a", scopes: ["heartbeat:write"] })).tokenPair!;
    await f.tokens.revokeToken({ token: p.refreshToken });
    await f.tokens.revokeToken({ token: p.refreshToken }); // idempotent
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p.refreshToken }), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
  });

  it("revoke accepts an expired access token of the family", async () => {
    const p = (await f.issue({ subject: "a", accessTokenTtlSeconds: 60n })).tokenPair!;
    f.clock.advance(3_600_000);
    await f.tokens.revokeToken({ token: p.accessToken });
    await expectConnectError(f.tokens.refreshToken({ refreshToken: p.refreshToken }), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
  });
});

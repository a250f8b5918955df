import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createManualClock } from "../helpers/manual-clock.js";

// fixtures/data-dir-jwt-refresh is a whole data dir written by the release whose refresh tokens were
// signed rt+jwt JWTs, with the tokens it handed out (write-jwt-refresh-data-dir.mjs). Today's refresh
// tokens are opaque handles; sessions started before the upgrade must keep rotating.
const FIXTURE = fileURLToPath(new URL("./fixtures/data-dir-jwt-refresh/", import.meta.url));
const issued = JSON.parse(readFileSync(join(FIXTURE, "tokens.json"), "utf8")) as {
  t0Ms: number;
  issuer: string;
  adminKey: string;
  alice: { first: string; current: string; sid: string };
  bob: { current: string; sid: string };
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upgraded(): Promise<{ server: TokenkitServer; clock: ReturnType<typeof createManualClock> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "tokenkit-upgrade-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  cpSync(FIXTURE, dataDir, { recursive: true });
  const clock = createManualClock(issued.t0Ms + 3_600_000); // an hour after the old release stopped
  const server = await createTokenkitServer({ port: 0, dataDir, adminKey: issued.adminKey, clock });
  cleanups.push(() => server.close());
  return { server, clock };
}

describe("upgrading a data dir whose sessions hold rt+jwt refresh tokens", () => {
  it("keeps the issuer, rotates the old tokens into opaque handles, and the chain continues", async () => {
    const { server, clock } = await upgraded();
    expect(server.issuer).toBe(issued.issuer);
    const transport = createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" });
    const tokens = createClient(TokenService, transport);
    let pair = (await tokens.refreshToken({ refreshToken: issued.alice.current })).tokenPair!;
    expect(pair.sessionId).toBe(issued.alice.sid);
    expect(pair.refreshToken).toMatch(/^tkr_/);
    expect(pair.refreshTokenTtlSeconds).toBe(30n * 86_400n); // the TTL chosen at issue survives the upgrade
    for (let i = 0; i < 3; i++) {
      clock.advance(600_000);
      pair = (await tokens.refreshToken({ refreshToken: pair.refreshToken })).tokenPair!;
      expect(pair.sessionId).toBe(issued.alice.sid);
    }
    const seen = await createClient(HeartbeatService, transport).heartbeat({}, { headers: { authorization: `Bearer ${pair.accessToken}` } });
    expect(seen).toBeDefined();
    const bob = (await tokens.refreshToken({ refreshToken: issued.bob.current })).tokenPair!;
    expect(bob.sessionId).toBe(issued.bob.sid);
    expect(bob.refreshTokenTtlSeconds).toBe(86_400n);
  });

  it("keeps the grace window and reuse detection across the format change", async () => {
    const { server } = await upgraded();
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    const next = (await tokens.refreshToken({ refreshToken: issued.alice.current })).tokenPair!;
    // A lost response: the old JWT presented again within grace gets the identical opaque successor.
    const retry = (await tokens.refreshToken({ refreshToken: issued.alice.current })).tokenPair!;
    expect(retry.refreshToken).toBe(next.refreshToken);
    expect(retry.accessToken).toBe(next.accessToken);
    // The first token, spent by the old release an hour ago, is reuse: the session is revoked.
    await expectConnectError(tokens.refreshToken({ refreshToken: issued.alice.first }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
    await expectConnectError(tokens.refreshToken({ refreshToken: next.refreshToken }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
  });

  it("revokes a session by its old refresh JWT and by its new handle (RFC 7009)", async () => {
    const { server } = await upgraded();
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    await tokens.revokeToken({ token: issued.bob.current });
    await expectConnectError(tokens.refreshToken({ refreshToken: issued.bob.current }), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    const alice = (await tokens.refreshToken({ refreshToken: issued.alice.current })).tokenPair!;
    await tokens.revokeToken({ token: alice.refreshToken });
    await expectConnectError(tokens.refreshToken({ refreshToken: alice.refreshToken }), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
  });
});

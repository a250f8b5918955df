import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { createMemoryTokenStore } from "../../src/client/memory-token-store.js";
import { createTokenServiceRefresher } from "../../src/client/token-service-refresher.js";
import { createTokenSource, isSessionExpired } from "../../src/client/token-source.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import type { StoredToken, TokenStore } from "../../src/client/token-store.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createTokenServerFixture } from "../helpers/token-server-fixture.js";

/** Two views of one memory store whose saves are announced to the other view, like tabs sharing a cross-tab store. */
function sharedStore(): [TokenStore, TokenStore] {
  const inner = createMemoryTokenStore();
  const listeners: ((t: StoredToken | undefined) => void)[][] = [[], []];
  const view = (i: number): TokenStore => ({
    load: inner.load,
    lock: inner.lock,
    save: async (t) => {
      await inner.save(t);
      for (const l of listeners[1 - i]!) l(t === undefined ? undefined : structuredClone(t));
    },
    subscribe: (l) => {
      listeners[i]!.push(l);
      return () => listeners[i]!.splice(listeners[i]!.indexOf(l), 1);
    },
  });
  return [view(0), view(1)];
}

describe("token source: signOut", () => {
  it("revokes at the token service, clears the store, tells the other tab, and ends in signed_out", async () => {
    const server = await createTokenServerFixture();
    const pair = (await server.issue({ subject: "u", scopes: ["heartbeat:write"] })).tokenPair!;
    const refresh = createTokenServiceRefresher(server.transport, { clock: server.clock });
    const [storeA, storeB] = sharedStore();
    const eventsB: TokenSourceEvent[] = [];
    const a = createTokenSource({ clock: server.clock, refresh, store: storeA, refreshToken: pair.refreshToken });
    const b = createTokenSource({ clock: server.clock, refresh, store: storeB, onEvent: (e) => eventsB.push(e) });
    const token = await a.getToken(); // a refreshes the seed and saves; b adopts it on first use
    expect(await b.getToken()).toBe(token);

    const spent = a.current()!;
    await a.signOut();
    expect(a.state).toBe("signed_out");
    expect(a.current()).toBeUndefined();
    expect(b.state).toBe("signed_out");
    expect(eventsB).toContainEqual({ type: "signed_out", remote: true });
    expect(await storeA.load()).toBeUndefined();
    const err = await expectConnectError(a.getToken(), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    expect(isSessionExpired(err)).toBe(true);
    await expectConnectError(b.getToken(), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    // Revoked at the server: the family's refresh token and access token are dead.
    await expect(refresh(spent, { signal: new AbortController().signal, cause: "initial" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(server.callAs(token)).rejects.toMatchObject({ code: Code.Unauthenticated });
    await server.close();
  });

  it("a process without notifications notices the cleared store on its next refresh", async () => {
    const server = await createTokenServerFixture();
    const pair = (await server.issue({ subject: "u", accessTokenTtlSeconds: 60n })).tokenPair!;
    const refresh = createTokenServiceRefresher(server.transport, { clock: server.clock });
    const store = createMemoryTokenStore();
    const a = createTokenSource({ clock: server.clock, refresh, store, refreshToken: pair.refreshToken });
    const b = createTokenSource({ clock: server.clock, refresh, store });
    await a.getToken();
    await b.getToken();
    await a.signOut();
    server.clock.advance(60_000);
    await expectConnectError(b.getToken(), Code.Unauthenticated, AuthErrorReason.TOKEN_REVOKED);
    expect(b.state).toBe("signed_out");
    await server.close();
  });

  it("signs out locally even when the token service cannot be reached, and says so", async () => {
    const source = createTokenSource({
      refresh: Object.assign(async () => ({ accessToken: "x", receivedAt: 0, expiresAt: 0 }), {
        revoke: async () => {
          throw new TypeError("fetch failed");
        },
      }),
      initial: { accessToken: "A", refreshToken: "R", receivedAt: Date.now(), expiresAt: Date.now() + 3_600_000 },
    });
    await expect(source.signOut()).rejects.toMatchObject({ code: Code.Unavailable, message: expect.stringMatching(/signed out locally.*fetch failed/) });
    expect(source.state).toBe("signed_out");
    await source.setToken({ accessToken: "B", refreshToken: "R2", receivedAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
    expect(source.state).toBe("active");
    expect(await source.getToken()).toBe("B");
  });
});

describe("token source: starting from a refresh token", () => {
  it("with a store, a stored pair wins over the refresh token (a restart does not present a spent token)", async () => {
    const server = await createTokenServerFixture({ gracePeriodSeconds: 0 });
    const pair = (await server.issue({ subject: "u", scopes: ["heartbeat:write"] })).tokenPair!;
    const refresh = createTokenServiceRefresher(server.transport, { clock: server.clock });
    const store = createMemoryTokenStore();
    const run = async () => {
      const source = createTokenSource({ clock: server.clock, refresh, store, refreshToken: pair.refreshToken });
      const token = await source.getToken();
      source.close();
      return token;
    };
    const first = await run();
    server.clock.advance(3_600_000); // the first run's access token expired: the second run must refresh
    const second = await run();
    expect(second).not.toBe(first);
    expect(await server.callAs(second)).toContain('"sub":"u"');
    await server.close();
  });

  it("validates refreshToken and initial together", () => {
    const refresh = async () => ({ accessToken: "x", receivedAt: 0, expiresAt: 0 });
    expect(() => createTokenSource({ refresh, refreshToken: "" })).toThrow(/refreshToken/);
    expect(() => createTokenSource({ refresh, refreshToken: "r", initial: { accessToken: "a", receivedAt: 0, expiresAt: 1 } })).toThrow(/refreshToken.*initial/);
  });
});

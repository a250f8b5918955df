import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { startStoreJanitor } from "../../src/server/store-janitor.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { createManualClock, until } from "../helpers/manual-clock.js";
import { createTokenServerFixture } from "../helpers/token-server-fixture.js";

/** settle lets a purge started by a timer finish (the memory store answers in microtasks). */
const settle = () => until(() => false, 50).catch(() => {});

describe("store janitor", () => {
  it("purges old sealed pairs (past the longest grace window, 300 s) and expired refresh records, and stops", async () => {
    const clock = createManualClock();
    const store = createMemoryFamilyStore();
    const now = Math.floor(clock.now() / 1000);
    await store.createFamily(
      { sid: "f", subject: "s", scopes: [], audiences: ["a"], metadata: {}, accessTtlSeconds: 60, refreshTtlSeconds: 400, createdAt: now },
      { hash: "h0", sid: "f", issuedAt: now, expiresAt: now + 400 },
    );
    await store.rotate({ presentedHash: "h0", now, graceSeconds: 300, successor: { record: { hash: "h1", sid: "f", issuedAt: now, expiresAt: now + 400 }, box: new Uint8Array(4) } });
    const janitor = startStoreJanitor({ store, clock, intervalMs: 60_000 });
    clock.advance(300_000); // purges at +60 … +300 s keep the box: it is not older than 300 s
    await settle();
    expect((await store.rotate({ presentedHash: "h0", now: now + 300, graceSeconds: 300 })).kind).toBe("grace");
    clock.advance(60_000); // the purge at +360 s drops it
    await settle();
    expect((await store.rotate({ presentedHash: "h0", now: now + 300, graceSeconds: 300 })).kind).toBe("reused");
    janitor.stop();
    expect(clock.timers).toBe(0);
  });

  it("a library user with grace 300 s and a default janitor keeps idempotent retries for the whole window", async () => {
    const f = await createTokenServerFixture({ gracePeriodSeconds: 300 });
    const janitor = startStoreJanitor({ store: f.store, clock: f.clock, intervalMs: 60_000 });
    try {
      const p0 = (await f.issue({ subject: "a", scopes: ["heartbeat:write"] })).tokenPair!;
      const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
      for (let i = 0; i < 4; i++) {
        f.clock.advance(60_000); // the janitor purges every minute
        await settle();
      }
      f.clock.advance(50_000); // 290 s after the rotation: the response was lost, the client retries
      const retry = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
      expect(retry.refreshToken).toBe(p1.refreshToken);
      await f.callAs(retry.accessToken);
      f.clock.advance(20_000); // past the grace window, re-presenting the predecessor is reuse
      await expectConnectError(f.tokens.refreshToken({ refreshToken: p0.refreshToken }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
    } finally {
      janitor.stop();
      await f.close();
    }
  });
});

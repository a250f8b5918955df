import { describe, expect, it } from "vitest";
import { createRevocationCache } from "../../src/server/revocation-cache.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

const family = (sid: string, now: number, parentSid?: string) => ({
  sid,
  subject: "s",
  scopes: [],
  audiences: ["a"],
  metadata: {},
  accessTtlSeconds: 3600,
  refreshTtlSeconds: 86_400,
  createdAt: now,
  ...(parentSid ? { parentSid } : {}),
});

describe("revocation cache", () => {
  it("sees a revocation made elsewhere within one poll interval, and forgets it once the family's access tokens have expired", async () => {
    const clock = createManualClock();
    const store = createMemoryFamilyStore();
    const now = Math.floor(clock.now() / 1000);
    await store.createFamily(family("f1", now), { hash: "h1", sid: "f1", issuedAt: now, expiresAt: now + 100 });
    const cache = createRevocationCache({ store, clock, pollIntervalMs: 1000, clockToleranceSeconds: 0 });
    await cache.ready;
    expect(cache.isRevoked("f1")).toBe(false);
    await store.revokeFamily("f1", now, "revoked");
    expect(cache.isRevoked("f1")).toBe(false);
    clock.advance(1000); // fires the poll
    await cache.sync(); // joins the in-flight poll
    expect(cache.isRevoked("f1")).toBe(true);
    clock.advance(3_601_000);
    await cache.sync();
    expect(cache.isRevoked("f1")).toBe(false);
    cache.close();
    expect(clock.timers).toBe(0);
  });

  it("add() is effective at once, and loads revocations that predate it", async () => {
    const clock = createManualClock();
    const store = createMemoryFamilyStore();
    const now = Math.floor(clock.now() / 1000);
    await store.createFamily(family("old", now), { hash: "h", sid: "old", issuedAt: now, expiresAt: now + 100 });
    await store.revokeFamily("old", now, "revoked");
    const cache = createRevocationCache({ store, clock });
    await cache.ready;
    expect(cache.isRevoked("old")).toBe(true);
    cache.add(["x"], now);
    expect(cache.isRevoked("x")).toBe(true);
    cache.close();
  });

  it("validates options", () => {
    expect(() => createRevocationCache({ store: createMemoryFamilyStore(), pollIntervalMs: 0 })).toThrow(/pollIntervalMs/);
    expect(() => createRevocationCache({ store: createMemoryFamilyStore(), clockToleranceSeconds: -1 })).toThrow(/clockToleranceSeconds/);
  });
});

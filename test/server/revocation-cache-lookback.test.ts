import { describe, expect, it } from "vitest";
import { createRevocationCache } from "../../src/server/revocation-cache.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

const family = (sid: string, now: number) => ({
  sid,
  subject: "s",
  scopes: [],
  audiences: ["a"],
  metadata: {},
  accessTtlSeconds: 3600,
  refreshTtlSeconds: 86_400,
  createdAt: now,
});

describe("revocation cache across instances", () => {
  it.each([
    [10, true],
    [0, false],
  ])("a revocation committed after a newer one was seen (stamped 3 s earlier) is seen with lookbackSeconds %i: %s", async (lookbackSeconds, seen) => {
    const clock = createManualClock();
    const store = createMemoryFamilyStore();
    const now = Math.floor(clock.now() / 1000);
    for (const sid of ["slow", "fast"]) {
      await store.createFamily(family(sid, now), { hash: `h-${sid}`, sid, issuedAt: now, expiresAt: now + 100 });
    }
    const cache = createRevocationCache({ store, clock, lookbackSeconds });
    await cache.ready;
    // Instance 1 stamps its revocation at now+2 but commits late; instance 2 revokes at now+5 and commits first.
    await store.revokeFamily("fast", now + 5, "revoked");
    clock.advance(1000);
    await cache.sync();
    expect(cache.isRevoked("fast")).toBe(true);
    await store.revokeFamily("slow", now + 2, "revoked");
    clock.advance(1000);
    await cache.sync();
    expect(cache.isRevoked("slow")).toBe(seen);
    cache.close();
  });

  it("validates lookbackSeconds", () => {
    expect(() => createRevocationCache({ store: createMemoryFamilyStore(), lookbackSeconds: -1 })).toThrow(/lookbackSeconds/);
  });
});

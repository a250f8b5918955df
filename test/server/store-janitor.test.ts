import { describe, expect, it } from "vitest";
import { startStoreJanitor } from "../../src/server/store-janitor.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

describe("store janitor", () => {
  it("purges expired refresh records and old sealed pairs every interval, and stops", async () => {
    const clock = createManualClock();
    const store = createMemoryFamilyStore();
    const now = Math.floor(clock.now() / 1000);
    await store.createFamily(
      { sid: "f", subject: "s", scopes: [], audiences: ["a"], metadata: {}, accessTtlSeconds: 60, refreshTtlSeconds: 120, createdAt: now },
      { hash: "h0", sid: "f", issuedAt: now, expiresAt: now + 120 },
    );
    await store.rotate({ presentedHash: "h0", now, graceSeconds: 30, successor: { record: { hash: "h1", sid: "f", issuedAt: now, expiresAt: now + 120 }, box: new Uint8Array(4) } });
    const janitor = startStoreJanitor({ store, clock, intervalMs: 60_000, gracePeriodSeconds: 30 });
    // Inside grace: the sealed pair is still returned.
    expect((await store.rotate({ presentedHash: "h0", now: now + 10, graceSeconds: 30 })).kind).toBe("grace");
    clock.advance(60_000); // purge at +60 s drops the box (older than grace)
    await until(() => false, 50).catch(() => {});
    expect((await store.rotate({ presentedHash: "h0", now: now + 20, graceSeconds: 30 })).kind).toBe("reused");
    for (let i = 0; i < 2; i++) {
      clock.advance(60_000); // at +180 s both records are past their expiry (+120 s) → deleted
      await until(() => false, 50).catch(() => {});
    }
    expect(await store.rotate({ presentedHash: "h1", now: now + 200, graceSeconds: 30 })).toEqual({ kind: "unknown" });
    janitor.stop();
    expect(clock.timers).toBe(0);
  });
});

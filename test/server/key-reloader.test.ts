import { describe, expect, it } from "vitest";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { startKeyReloader } from "../../src/server/keys/key-reloader.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

describe("key reloader", () => {
  it("brings another instance's rotation into this ring's JWKS within one interval, then stops cleanly", async () => {
    const clock = createManualClock();
    const shared = createMemoryKeyStore();
    const a = await createKeyRing({ store: shared, clock });
    const b = await createKeyRing({ store: shared, clock });
    const reloader = startKeyReloader({ keyRing: b, clock, intervalMs: 10_000 });
    const kid = await a.rotate();
    clock.advance(9_999);
    await reloader.runOnce();
    expect(b.jwks().keys.map((k) => k.kid)).toContain(kid); // runOnce is the manual path
    const kid2 = await a.rotate();
    clock.advance(9_999);
    expect(b.jwks().keys.map((k) => k.kid)).not.toContain(kid2);
    clock.advance(1); // the timer fires and reloads
    await reloader.runOnce(); // joins the in-flight reload
    expect(b.jwks().keys.map((k) => k.kid)).toContain(kid2);
    reloader.stop();
    expect(clock.timers).toBe(0);
  });

  it("keeps the current keys when a reload fails, and tries again at the next tick", async () => {
    const clock = createManualClock();
    const store = createMemoryKeyStore();
    const ring = await createKeyRing({ store, clock });
    const kid = ring.signingKey().kid;
    let fail = true;
    const flaky = { ...ring, reload: () => (fail ? Promise.reject(new Error("db down")) : ring.reload()) };
    const warnings: string[] = [];
    const reloader = startKeyReloader({ keyRing: flaky, clock, logger: { warn: (m) => warnings.push(m) } });
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    expect(warnings).toEqual(["tokenkit: reloading the signing keys failed; keeping the current ones"]);
    expect(ring.signingKey().kid).toBe(kid);
    expect(clock.timers).toBe(1);
    fail = false;
    clock.advance(10_000);
    await reloader.runOnce();
    reloader.stop();
  });

  it("validates options", () => {
    // @ts-expect-error: keyRing missing
    expect(() => startKeyReloader({})).toThrow(/keyRing/);
    expect(() => startKeyReloader({ keyRing: { reload: async () => {} } as never, intervalMs: 0 })).toThrow(/intervalMs/);
  });
});

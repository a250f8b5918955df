import { describe, expect, it } from "vitest";
import { createRefreshScheduler, type RefreshSchedulerEvent } from "../../src/client/refresh-scheduler.js";
import { createManualClock } from "../helpers/manual-clock.js";

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

describe("refresh scheduler: each refresh has its own deadline", () => {
  it("refreshes that never settle free their slot at the deadline; other sessions are still refreshed", async () => {
    const clock = createManualClock();
    const events: RefreshSchedulerEvent[] = [];
    const started: string[] = [];
    const signals = new Map<string, AbortSignal>();
    const scheduler = createRefreshScheduler({
      clock,
      random: () => 0,
      maxConcurrentRefreshes: 2,
      refreshTimeoutMs: 10_000,
      onEvent: (e) => events.push(e),
      refresh: (id, { signal }) => {
        started.push(id);
        signals.set(id, signal);
        // "hung-*" sessions never settle and ignore their signal.
        return id.startsWith("hung") ? new Promise(() => {}) : Promise.resolve({ expiresInSeconds: 3600 });
      },
    });
    const t0 = clock.now();
    scheduler.schedule("hung-1", { expiresAt: t0 + 40_000 });
    scheduler.schedule("hung-2", { expiresAt: t0 + 40_000 });
    scheduler.schedule("live", { expiresAt: t0 + 41_000 });
    clock.advance(31_000); // all three due (30 s: the minimum delay); the two hung ones take both slots
    await flush();
    expect(started).toEqual(["hung-1", "hung-2"]);
    clock.advance(10_000);
    await flush();
    expect(signals.get("hung-1")!.aborted).toBe(true);
    expect(started).toContain("live");
    expect(events.filter((e) => e.type === "refresh" && e.outcome === "failure").map((e) => e.id).sort()).toEqual(["hung-1", "hung-2"]);
    await scheduler.close();
  });

  it("validates refreshTimeoutMs", () => {
    expect(() => createRefreshScheduler({ refresh: async () => undefined, refreshTimeoutMs: 0 })).toThrow(/refreshTimeoutMs/);
  });
});

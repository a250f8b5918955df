import { afterEach, describe, expect, it, vi } from "vitest";
import { createRefreshScheduler, type RefreshSchedulerEvent } from "../../src/client/refresh-scheduler.js";
import type { Clock } from "../../src/lib/clock.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const settle = () => new Promise((r) => setImmediate(r));

/** countingClock is a manual clock that records the most timers ever pending at once. */
function countingClock() {
  const c = createManualClock();
  let peak = 0;
  return {
    now: () => c.now(),
    setTimeout(fn: () => void, ms: number) {
      const t = c.setTimeout(fn, ms);
      peak = Math.max(peak, c.timers);
      return t;
    },
    clearTimeout: (t: unknown) => c.clearTimeout(t),
    advance: (ms: number) => c.advance(ms),
    get timers() {
      return c.timers;
    },
    get peak() {
      return peak;
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("refresh scheduler timers", () => {
  it("100 000 sessions with reschedules and cancels mixed in: never more than 1 live timer; each live session fires once, in due order", async () => {
    const clock = countingClock();
    const calls: { id: string; at: number }[] = [];
    const scheduler = createRefreshScheduler({
      clock,
      random: () => 0,
      refresh: async (id) => {
        calls.push({ id, at: clock.now() });
        return { expiresInSeconds: 1000 * 3600 };
      },
    });
    const t0 = clock.now();
    const n = 100_000;
    const due = new Map<string, number>();
    for (let i = 0; i < n; i++) due.set(`s${i}`, scheduler.schedule(`s${i}`, { expiresAt: t0 + 4 * HOUR + ((i * 7919) % n) * 100 }));
    // Churn: every 3rd session rescheduled (later or earlier), every 10th cancelled.
    for (let i = 0; i < n; i += 3) due.set(`s${i}`, scheduler.scheduleFromExpiresIn(`s${i}`, 4 * 3600 + ((i * 104_729) % n) / 10));
    for (let i = 0; i < n; i += 10) {
      expect(scheduler.cancel(`s${i}`)).toBe(true);
      due.delete(`s${i}`);
    }
    expect(scheduler.cancel("s0")).toBe(false);
    expect(scheduler.size).toBe(due.size);
    expect(clock.timers).toBe(1);
    // Walk through the window a minute at a time, letting refreshes complete in between.
    for (let t = 0; t < 6 * HOUR; t += MIN) {
      clock.advance(MIN);
      await settle();
    }
    await until(() => calls.length >= due.size);
    expect(clock.peak).toBe(1);
    expect(calls).toHaveLength(due.size);
    expect(new Set(calls.map((c) => c.id)).size).toBe(due.size);
    for (const c of calls) {
      expect(due.has(c.id)).toBe(true);
      // On time: in the minute it fell due (the walk's resolution), never before.
      expect(c.at).toBeGreaterThanOrEqual(due.get(c.id)!);
      expect(c.at - due.get(c.id)!).toBeLessThan(MIN);
    }
    const dues = calls.map((c) => due.get(c.id)!);
    expect(dues.every((d, i) => i === 0 || d >= dues[i - 1]!)).toBe(true);
    await scheduler.close();
    expect(clock.timers).toBe(0);
  }, 180_000); // 100 000 sessions: generous on a loaded shared machine; nothing here measures speed

  it("with the system clock: a 2 h sleep (wall clock jumps, timers do not) is caught within maxTimerDelayMs, one refresh per session", async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
    const calls: string[] = [];
    const scheduler = createRefreshScheduler({
      random: () => 0,
      refresh: async (id) => {
        calls.push(id);
        return { expiresInSeconds: 3600 };
      },
    });
    scheduler.scheduleFromExpiresIn("a", 3600); // due in 45 min
    scheduler.scheduleFromExpiresIn("b", 2 * 3600); // due in 90 min
    vi.setSystemTime(Date.now() + 2 * HOUR); // fake timers keep their own schedule: like a monotonic clock over a sleep
    await vi.advanceTimersByTimeAsync(MIN - 1);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.sort()).toEqual(["a", "b"]);
    await vi.advanceTimersByTimeAsync(30 * MIN);
    expect(calls).toHaveLength(2);
    await scheduler.close();
  });

  it("never runs two refreshes of one session: a rescheduled session that falls due while its old refresh runs waits for it", async () => {
    const clock = createManualClock();
    const events: RefreshSchedulerEvent[] = [];
    const finishers: (() => void)[] = [];
    let running = 0;
    let peak = 0;
    const scheduler = createRefreshScheduler({
      clock,
      random: () => 0,
      onEvent: (e) => events.push(e),
      refresh: () =>
        new Promise((resolve) => {
          running++;
          peak = Math.max(peak, running);
          finishers.push(() => {
            running--;
            resolve({ expiresInSeconds: 3600 });
          });
        }),
    });
    scheduler.scheduleFromExpiresIn("a", 0);
    clock.advance(30_000);
    await settle();
    expect(finishers).toHaveLength(1);
    scheduler.scheduleFromExpiresIn("a", 0); // superseded while running; due again in 30 s
    clock.advance(30_000);
    await settle();
    expect(finishers).toHaveLength(1);
    expect(scheduler.nextRefreshAt("a")).toBeUndefined();
    finishers[0]!();
    await settle();
    await settle();
    expect(finishers).toHaveLength(2);
    expect(peak).toBe(1);
    finishers[1]!();
    await settle();
    expect(events.map((e) => e.type)).toEqual(["discarded", "refresh"]);
    expect(scheduler.nextRefreshAt("a")).toBe(clock.now() + 45 * MIN);
  });

  it("maxConcurrentRefreshes bounds a burst; the rest wait their turn", async () => {
    const clock = createManualClock();
    let running = 0;
    let peak = 0;
    let done = 0;
    const scheduler = createRefreshScheduler({
      clock,
      maxConcurrentRefreshes: 2,
      refresh: async () => {
        running++;
        peak = Math.max(peak, running);
        await settle();
        running--;
        done++;
      },
    });
    for (let i = 0; i < 10; i++) scheduler.scheduleFromExpiresIn(`s${i}`, 0);
    clock.jump(HOUR);
    await until(() => done === 10);
    expect(peak).toBe(2);
  });

  it("jitter moves a due time earlier by up to 5 % of the lifetime (at most 60 s), never under the floor", () => {
    const clock = createManualClock();
    const at = (random: number, seconds: number) =>
      createRefreshScheduler({ clock, random: () => random, refresh: async () => {} }).scheduleFromExpiresIn("a", seconds) - clock.now();
    expect(at(0, 3600)).toBe(45 * MIN);
    expect(at(0.5, 3600)).toBe(45 * MIN - 30_000);
    expect(at(0.5, 600)).toBe(7.5 * MIN - 15_000); // span min(60 s, 5 % × 600 s = 30 s)
    expect(at(0.99, 40)).toBe(30_000);
    // Unknown expiry: fallback 30 min, jittered by up to 60 s.
    const s = createRefreshScheduler({ clock, random: () => 0.5, refresh: async () => {} });
    expect(s.schedule("u") - clock.now()).toBe(30 * MIN - 30_000);
    // A StoredToken-like expiry: the lifetime counts from receivedAt.
    expect(s.schedule("t", { receivedAt: clock.now() - 30 * MIN, expiresAt: clock.now() + 30 * MIN }) - clock.now()).toBe(15 * MIN - 30_000);
  });

  it("a refresh that throws synchronously, or an observer that throws, does not break the scheduler", async () => {
    const clock = createManualClock();
    const failures: number[] = [];
    let calls = 0;
    const scheduler = createRefreshScheduler({
      clock,
      random: () => 0,
      refresh: ((): never => {
        calls++;
        throw new Error("sync");
      }) as never,
      onEvent: (e) => {
        if (e.type === "refresh") failures.push(e.failures);
        throw new Error("observer");
      },
    });
    scheduler.scheduleFromExpiresIn("a", 0);
    clock.advance(30_000);
    await settle();
    clock.advance(60_000);
    await settle();
    expect(calls).toBe(2);
    expect(failures).toEqual([1, 2]);
    expect(scheduler.size).toBe(1);
  });

  it("close aborts running refreshes, waits for them, stops the timer; schedule then throws", async () => {
    const clock = createManualClock();
    let signal!: AbortSignal;
    let settled = false;
    const scheduler = createRefreshScheduler({
      clock,
      refresh: (_id, ctx) => {
        signal = ctx.signal;
        return new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => setImmediate(() => reject(ctx.signal.reason))));
      },
    });
    scheduler.scheduleFromExpiresIn("a", 0);
    scheduler.scheduleFromExpiresIn("b", 3600);
    clock.advance(30_000);
    await settle();
    const closing = scheduler.close().then(() => (settled = true));
    expect(signal.aborted).toBe(true);
    expect(settled).toBe(false);
    await closing;
    expect(scheduler.size).toBe(0);
    expect(clock.timers).toBe(0);
    expect(() => scheduler.schedule("c", { expiresInSeconds: 60 })).toThrow(/closed/);
  });

  it("validates options and arguments", () => {
    const refresh = async () => {};
    expect(() => createRefreshScheduler({ refresh, clock: {} as Clock })).toThrow(/clock/);
    expect(() => createRefreshScheduler({ refresh, minDelayMs: 500 })).toThrow(/minDelayMs/);
    expect(() => createRefreshScheduler({ refresh, maxConcurrentRefreshes: 0 })).toThrow(/maxConcurrentRefreshes/);
    expect(() => createRefreshScheduler({ refresh, maxConsecutiveFailures: 1.5 })).toThrow(/maxConsecutiveFailures/);
    expect(() => createRefreshScheduler({ refresh, fallbackIntervalMs: 0 })).toThrow(/fallbackIntervalMs/);
    expect(() => createRefreshScheduler({ refresh, maxTimerDelayMs: 10 })).toThrow(/maxTimerDelayMs/);
    const s = createRefreshScheduler({ refresh, clock: createManualClock() });
    expect(() => s.schedule("a", { expiresAt: Number.NaN })).toThrow(/expiresAt/);
    expect(() => s.scheduleFromExpiresIn("a", Number.POSITIVE_INFINITY)).toThrow(/expiresInSeconds/);
    expect(() => s.schedule(42 as never)).toThrow(/id/);
    expect(s.size).toBe(0);
  });
});

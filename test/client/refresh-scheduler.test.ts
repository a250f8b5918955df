import { describe, expect, it } from "vitest";
import { createRefreshScheduler, type RefreshSchedulerEvent } from "../../src/client/refresh-scheduler.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

function setup(opts: Parameters<typeof createRefreshScheduler>[0] extends infer O ? Partial<O> : never = {}) {
  const clock = createManualClock();
  const calls: { id: string; at: number }[] = [];
  const events: RefreshSchedulerEvent[] = [];
  let result: () => Promise<{ expiresInSeconds?: number } | void> = async () => ({ expiresInSeconds: 3600 });
  const scheduler = createRefreshScheduler({
    clock,
    random: () => 0,
    refresh: async (id) => {
      calls.push({ id, at: clock.now() });
      return result();
    },
    onEvent: (e) => events.push(e),
    ...opts,
  });
  return { clock, calls, events, scheduler, setResult: (f: typeof result) => (result = f) };
}
const settle = () => until(() => true, 50).then(() => new Promise((r) => setImmediate(r)));

describe("refresh scheduler", () => {
  it("refreshes with a quarter of the remaining lifetime left, then from the new expiry", async () => {
    const s = setup();
    const t0 = s.clock.now();
    s.scheduler.schedule("a", { expiresAt: t0 + HOUR });
    s.clock.advance(45 * MIN - 1);
    expect(s.calls).toHaveLength(0);
    s.clock.advance(1);
    await settle();
    expect(s.calls).toEqual([{ id: "a", at: t0 + 45 * MIN }]);
    s.clock.advance(45 * MIN);
    await settle();
    expect(s.calls).toHaveLength(2);
  });

  it("unknown expiry → the fallback interval (30 min); past expiry → the 30 s floor", async () => {
    const s = setup();
    const t0 = s.clock.now();
    s.scheduler.schedule("unknown");
    s.scheduler.schedule("expired", { expiresAt: t0 - 5000 });
    s.scheduler.scheduleFromExpiresIn("tiny", 1);
    s.clock.advance(30_000);
    await settle();
    expect(s.calls.map((c) => c.id).sort()).toEqual(["expired", "tiny"]);
    s.clock.advance(30 * MIN - 30_000);
    await settle();
    expect(s.calls.filter((c) => c.id === "unknown")).toEqual([{ id: "unknown", at: t0 + 30 * MIN }]);
  });

  it("3 consecutive failures 60 s apart → gave_up; a success resets the count", async () => {
    const s = setup();
    let fail = true;
    s.setResult(async () => {
      if (fail) throw new Error("down");
      return { expiresInSeconds: 3600 };
    });
    s.scheduler.scheduleFromExpiresIn("a", 40); // floor: 30 s
    s.clock.advance(30_000);
    await settle();
    s.clock.advance(60_000);
    await settle();
    fail = false;
    s.clock.advance(60_000);
    await settle();
    expect(s.events.map((e) => (e.type === "refresh" ? `${e.outcome}${e.failures}` : e.type))).toEqual(["failure1", "failure2", "success0"]);
    fail = true;
    for (let i = 0; i < 3; i++) {
      s.clock.advance(i === 0 ? 45 * MIN : 60_000);
      await settle();
    }
    const gaveUp = s.events.filter((e) => e.type === "gave_up");
    expect(gaveUp).toEqual([expect.objectContaining({ id: "a", failures: 3 })]);
    const at = s.calls.slice(-3).map((c) => c.at);
    expect(at[1]! - at[0]!).toBe(60_000);
    expect(at[2]! - at[1]!).toBe(60_000);
    expect(s.scheduler.size).toBe(0);
    s.clock.advance(10 * HOUR);
    await settle();
    expect(s.calls).toHaveLength(6);
  });

  it("cancel during an in-flight refresh re-arms nothing, and aborts it", async () => {
    const s = setup();
    let signal!: AbortSignal;
    let finish!: () => void;
    s.setResult(() => new Promise((r) => (finish = () => r({ expiresInSeconds: 60 }))));
    const scheduler = createRefreshScheduler({
      clock: s.clock,
      refresh: (_id, ctx) => {
        signal = ctx.signal;
        return new Promise((r) => (finish = () => r({ expiresInSeconds: 60 })));
      },
    });
    scheduler.scheduleFromExpiresIn("a", 0);
    s.clock.advance(30_000);
    await settle();
    scheduler.cancel("a");
    expect(signal.aborted).toBe(true);
    finish();
    await settle();
    expect(scheduler.size).toBe(0);
    expect(s.clock.timers).toBe(0);
  });

  it("a superseded in-flight refresh sets no timer: the newer schedule wins", async () => {
    const s = setup();
    let finish!: () => void;
    s.setResult(() => new Promise((r) => (finish = () => r({ expiresInSeconds: 60 }))));
    s.scheduler.scheduleFromExpiresIn("a", 0);
    s.clock.advance(30_000);
    await settle();
    s.scheduler.schedule("a", { expiresAt: s.clock.now() + 4 * HOUR });
    finish();
    await settle();
    s.clock.advance(2 * HOUR);
    await settle();
    expect(s.calls).toHaveLength(1);
    s.clock.advance(HOUR);
    await settle();
    expect(s.calls).toHaveLength(2);
  });

  it("a 2 h wall-clock jump (sleep) → exactly one refresh per session, not a burst", async () => {
    const s = setup();
    for (let i = 0; i < 50; i++) s.scheduler.schedule(`s${i}`, { expiresAt: s.clock.now() + (20 + i) * MIN });
    s.clock.jump(2 * HOUR);
    await until(() => s.calls.length >= 50);
    await settle();
    expect(s.calls).toHaveLength(50);
    expect(new Set(s.calls.map((c) => c.id)).size).toBe(50);
    s.clock.advance(30 * MIN);
    await settle();
    expect(s.calls).toHaveLength(50);
  });

  it("100 000 sessions keep one live timer and fire in due order, at most 16 at once", async () => {
    // One synchronous clock jump runs every due timer before any refresh settles: a deadline
    // longer than the jump keeps these slow-looking (in fake time) refreshes from being cut off.
    const s = setup({ refreshTimeoutMs: 10 * HOUR });
    let running = 0;
    let peak = 0;
    s.setResult(async () => {
      running++;
      peak = Math.max(peak, running);
      await null;
      running--;
      return { expiresInSeconds: 100 * 3600 };
    });
    const t0 = s.clock.now();
    const n = 100_000;
    // Expiries spread over 10 000 s, inserted in a scrambled order.
    for (let i = 0; i < n; i++) s.scheduler.schedule(`s${i}`, { expiresAt: t0 + 4 * HOUR + ((i * 7919) % n) * 100 });
    expect(s.scheduler.size).toBe(n);
    expect(s.clock.timers).toBe(1);
    s.clock.advance(5 * HOUR + 10 * MIN);
    await until(() => s.calls.length >= n, 5_000_000);
    expect(s.calls).toHaveLength(n);
    expect(s.clock.timers).toBe(1);
    expect(peak).toBeLessThanOrEqual(16);
    const ats = s.calls.map((c) => c.at);
    expect(ats.every((a, i) => i === 0 || a >= ats[i - 1]!)).toBe(true);
  }, 180_000); // 100 000 sessions: generous on a loaded shared machine; nothing here measures speed

  it("validates options at construction", () => {
    expect(() => createRefreshScheduler({} as never)).toThrow(/refresh/);
    expect(() => createRefreshScheduler({ refresh: async () => {}, minDelayMs: -1 })).toThrow(/minDelayMs/);
    expect(() => createRefreshScheduler({ refresh: async () => {}, refreshFraction: 2 })).toThrow(/refreshFraction/);
  });
});

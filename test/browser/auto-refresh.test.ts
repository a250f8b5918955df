import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../../src/auth-error.js";
import { createMemoryTokenStore } from "../../src/client/memory-token-store.js";
import { documentVisibility } from "../../src/client/page-visibility.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenSource, type RefreshFunction, type TokenSource, type TokenSourceOptions } from "../../src/client/token-source.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

/** A document whose visibility a test flips, firing `visibilitychange` like a browser. */
class FakeDocument extends EventTarget {
  visibilityState: "visible" | "hidden" = "visible";
  set(state: "visible" | "hidden"): void {
    this.visibilityState = state;
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

const LIFETIME = 10_000;
// With these margins a 10 s token's refresh point is 7.5 s after receipt (random 0: no jitter).
const POINT = 7_500;

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

const sources: TokenSource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
});

function setup(opts: { doc?: FakeDocument; clock?: ManualClock; source?: Partial<TokenSourceOptions>; refresh?: RefreshFunction } = {}) {
  const clock = opts.clock ?? createManualClock();
  let n = 0;
  const calls: string[] = [];
  const pair = (): StoredToken => ({ accessToken: `at-${n}`, refreshToken: `rt-${n}`, receivedAt: clock.now(), expiresAt: clock.now() + LIFETIME });
  const refresh: RefreshFunction =
    opts.refresh ??
    (async (_cur, { cause }) => {
      calls.push(cause);
      n++;
      return pair();
    });
  const events: TokenSourceEvent[] = [];
  const source = createTokenSource({
    refresh,
    initial: pair(),
    clock,
    random: () => 0,
    minMarginMs: 2000,
    expiryMarginMs: 1000,
    autoRefresh: { visibility: opts.doc === undefined ? false : documentVisibility(opts.doc) },
    onEvent: (e) => events.push(e),
    ...opts.source,
  });
  sources.push(source);
  return { clock, source, calls, events };
}

describe("token source autoRefresh: refresh without calls", () => {
  it("refreshes at the refresh point with no call asking, and again at the next one", async () => {
    const { clock, source, calls } = setup();
    clock.advance(POINT - 1);
    await flush();
    expect(calls).toEqual([]);
    clock.advance(1);
    await flush();
    expect(calls).toEqual(["scheduled"]);
    expect(source.current()!.accessToken).toBe("at-1");
    clock.advance(POINT);
    await flush();
    expect(calls).toEqual(["scheduled", "scheduled"]);
  });

  it("is off by default: no timer, no refresh without a call", async () => {
    const clock = createManualClock();
    const source = createTokenSource({
      refresh: async () => ({ accessToken: "x", receivedAt: clock.now(), expiresAt: clock.now() + LIFETIME }),
      initial: { accessToken: "a", refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + LIFETIME },
      clock,
    });
    sources.push(source);
    expect(clock.timers).toBe(0);
  });

  it("with a store and no initial pair, reads the store at once and keeps its pair fresh", async () => {
    const clock = createManualClock();
    const store = createMemoryTokenStore({ accessToken: "stored", refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + LIFETIME });
    const calls: string[] = [];
    const source = createTokenSource({
      refresh: async (cur, { cause }) => (calls.push(`${cause}:${cur?.accessToken}`), { accessToken: "next", refreshToken: "r2", receivedAt: clock.now(), expiresAt: clock.now() + LIFETIME }),
      store,
      clock,
      random: () => 0,
      minMarginMs: 2000,
      expiryMarginMs: 1000,
      autoRefresh: { visibility: false },
    });
    sources.push(source);
    await flush();
    clock.advance(POINT);
    await flush();
    expect(calls).toEqual(["scheduled:stored"]);
    expect((await store.load())!.accessToken).toBe("next");
  });

  it("stops after a terminal refresh failure (no loop) and on close", async () => {
    const clock = createManualClock();
    let calls = 0;
    const { source } = setup({
      clock,
      refresh: async () => {
        calls++;
        throw authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "reused");
      },
    });
    clock.advance(POINT);
    await flush();
    expect(calls).toBe(1);
    expect(source.state).toBe("session_expired");
    clock.advance(10 * LIFETIME);
    await flush();
    expect(calls).toBe(1);
    expect(clock.timers).toBe(0);
  });

  it("close clears its timer", () => {
    const { clock, source } = setup();
    expect(clock.timers).toBe(1);
    source.close();
    expect(clock.timers).toBe(0);
  });
});

describe("token source autoRefresh: page visibility", () => {
  it("a hidden page arms no timer and does not refresh when the point passes; becoming visible checks once", async () => {
    const doc = new FakeDocument();
    const { clock, source, calls, events } = setup({ doc });
    doc.set("hidden");
    expect(clock.timers).toBe(0);
    clock.advance(3 * LIFETIME);
    await flush();
    expect(calls).toEqual([]);
    doc.set("visible");
    await flush();
    expect(calls).toEqual(["scheduled"]);
    expect(source.current()!.accessToken).toBe("at-1");
    expect(events.filter((e) => e.type === "visibility")).toEqual([
      { type: "visibility", visible: false },
      { type: "visibility", visible: true },
    ]);
  });

  it("becoming visible before the refresh point only re-arms the timer", async () => {
    const doc = new FakeDocument();
    const { clock, calls } = setup({ doc });
    doc.set("hidden");
    clock.advance(1000);
    doc.set("visible");
    await flush();
    expect(calls).toEqual([]);
    expect(clock.timers).toBe(1);
    clock.advance(POINT - 1000);
    await flush();
    expect(calls).toEqual(["scheduled"]);
  });

  it("a hidden tab's calls still get a token (lazily refreshed when no longer usable)", async () => {
    const doc = new FakeDocument();
    const { clock, source, calls } = setup({ doc });
    doc.set("hidden");
    clock.advance(LIFETIME);
    expect(await source.getToken()).toBe("at-1");
    expect(calls).toEqual(["initial"]);
  });

  it("starts suspended when the page is created hidden", async () => {
    const doc = new FakeDocument();
    doc.visibilityState = "hidden";
    const { clock, calls } = setup({ doc });
    expect(clock.timers).toBe(0);
    clock.advance(LIFETIME);
    await flush();
    expect(calls).toEqual([]);
  });

  it("a frozen page that resumes (Page Lifecycle `resume`) checks once", async () => {
    const doc = new FakeDocument();
    const { clock, calls } = setup({ doc });
    // A frozen page runs no timers at all: simulate by jumping without firing, then `resume`.
    clock.jump(0);
    const pending = clock.timers;
    expect(pending).toBe(1);
    doc.dispatchEvent(new Event("resume"));
    await flush();
    expect(calls).toEqual([]); // before the point: nothing to do, timer re-armed
    expect(clock.timers).toBe(1);
  });

  it("close unsubscribes from the document", async () => {
    const doc = new FakeDocument();
    const { source, calls, clock } = setup({ doc });
    source.close();
    clock.advance(LIFETIME);
    doc.set("hidden");
    doc.set("visible");
    await flush();
    expect(calls).toEqual([]);
  });
});

describe("token source autoRefresh: sleep", () => {
  it("a machine waking long after the refresh point refreshes once, at once, and reports the wake", async () => {
    const { clock, source, calls, events } = setup();
    // Asleep for an hour: no timer fires in between; the overdue one fires once, late.
    clock.jump(3_600_000);
    await flush();
    expect(calls).toEqual(["scheduled"]);
    expect(source.current()!.accessToken).toBe("at-1");
    expect(events).toContainEqual({ type: "wake", lateMs: 3_600_000 - POINT });
  });

  it("a wake before the refresh point checks freshness and refreshes nothing", async () => {
    const { clock, calls, events } = setup({ source: { autoRefresh: { visibility: false, maxTimerDelayMs: 1000 } } });
    clock.advance(500);
    clock.jump(6_000); // the 1 s timer fires 5.5 s late, still before the point
    await flush();
    expect(events.some((e) => e.type === "wake")).toBe(true);
    expect(calls).toEqual([]);
    expect(clock.timers).toBe(1);
    clock.advance(POINT);
    await flush();
    expect(calls).toEqual(["scheduled"]);
  });

  it("the timer never waits longer than maxTimerDelayMs", () => {
    const clock = createManualClock();
    const source = createTokenSource({
      refresh: async () => ({ accessToken: "x", receivedAt: clock.now(), expiresAt: clock.now() + 3_600_000 }),
      initial: { accessToken: "a", refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + 3_600_000 },
      clock,
      autoRefresh: { visibility: false, maxTimerDelayMs: 60_000 },
    });
    sources.push(source);
    for (let i = 0; i < 10; i++) {
      expect(clock.timers).toBe(1);
      clock.advance(60_000);
    }
  });
});

describe("token source autoRefresh: options", () => {
  it("validates autoRefresh with a TypeError naming it", () => {
    const base = { refresh: async () => ({ accessToken: "x", receivedAt: 0, expiresAt: 1 }) };
    expect(() => createTokenSource({ ...base, autoRefresh: 1 as never })).toThrow(/option "autoRefresh"/);
    expect(() => createTokenSource({ ...base, autoRefresh: { visibility: {} as never } })).toThrow(/option "autoRefresh.visibility"/);
    expect(() => createTokenSource({ ...base, autoRefresh: { maxTimerDelayMs: 10 } })).toThrow(/option "autoRefresh.maxTimerDelayMs"/);
    expect(() => createTokenSource({ ...base, autoRefresh: { wakeThresholdMs: 0 } })).toThrow(/option "autoRefresh.wakeThresholdMs"/);
    expect(() => documentVisibility({} as never)).toThrow(TypeError);
  });

  it("documentVisibility is undefined without a document (Node): autoRefresh then treats the page as visible", async () => {
    expect(documentVisibility()).toBeUndefined();
    const { clock, calls } = setup({ source: { autoRefresh: true } });
    clock.advance(POINT);
    await flush();
    expect(calls).toEqual(["scheduled"]);
  });
});

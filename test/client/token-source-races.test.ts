import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../../src/auth-error.js";
import { createMemoryTokenStore } from "../../src/client/memory-token-store.js";
import { createTokenSource, type RefreshFunction } from "../../src/client/token-source.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import type { StoredToken, TokenStore } from "../../src/client/token-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

const HOUR = 3_600_000;
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

/** A refresh function whose calls the test settles by hand, in any order. */
function manualRefresh() {
  const calls: { current: StoredToken | undefined; signal: AbortSignal; resolve: (t: StoredToken) => void; reject: (e: unknown) => void }[] = [];
  const refresh: RefreshFunction = (current, { signal }) =>
    new Promise((resolve, reject) => calls.push({ current, signal, resolve, reject }));
  return { refresh, calls };
}

const pair = (name: string, at: number, lifetimeMs = HOUR): StoredToken => ({
  accessToken: name,
  refreshToken: `r-${name}`,
  receivedAt: at,
  expiresAt: at + lifetimeMs,
});

describe("token source: a refresh for an older generation", () => {
  it("failing with REFRESH_TOKEN_REUSED after setToken(new login) leaves the new login active", async () => {
    const clock = createManualClock();
    const m = manualRefresh();
    const events: TokenSourceEvent[] = [];
    const source = createTokenSource({ clock, refresh: m.refresh, initial: pair("OLD", clock.now() - HOUR), onEvent: (e) => events.push(e) });
    const waiting = source.getToken();
    await flush();
    await source.setToken(pair("LOGIN", clock.now()));
    m.calls[0]!.reject(authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "reused"));
    expect(await waiting).toBe("LOGIN");
    expect(source.state).toBe("active");
    expect(await source.getToken()).toBe("LOGIN");
    expect(events.filter((e) => e.type === "session_expired")).toHaveLength(0);
  });

  it("failing transiently after setToken(new login) schedules no retry that rotates the new pair", async () => {
    const clock = createManualClock();
    const m = manualRefresh();
    const source = createTokenSource({ clock, refresh: m.refresh, initial: pair("OLD", clock.now() - HOUR) });
    const waiting = source.getToken();
    await flush();
    await source.setToken(pair("LOGIN", clock.now()));
    m.calls[0]!.reject(new ConnectError("down", Code.Unavailable));
    expect(await waiting).toBe("LOGIN");
    for (let i = 0; i < 10; i++) {
      clock.advance(60_000);
      await flush();
    }
    expect(m.calls).toHaveLength(1);
  });

  it("failing with REFRESH_TOKEN_REUSED after a newer pair was adopted from the store leaves that pair active", async () => {
    const clock = createManualClock();
    const m = manualRefresh();
    let notify!: (t: StoredToken | undefined) => void;
    const inner = createMemoryTokenStore();
    const store: TokenStore = { load: inner.load, save: inner.save, subscribe: (l) => ((notify = l), () => {}) };
    const source = createTokenSource({ clock, refresh: m.refresh, store, initial: pair("OLD", clock.now() - HOUR) });
    const waiting = source.getToken();
    await flush();
    clock.advance(1);
    notify(pair("TAB2", clock.now()));
    m.calls[0]!.reject(authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "reused"));
    expect(await waiting).toBe("TAB2");
    expect(source.state).toBe("active");
  });
});

describe("token source: persisting", () => {
  it("a retried save of an older pair never overwrites a newer pair saved meanwhile", async () => {
    const clock = createManualClock();
    const inner = createMemoryTokenStore();
    let failNext = 1;
    const store: TokenStore = {
      load: inner.load,
      save: async (t) => {
        if (failNext-- > 0) throw new Error("disk full");
        await inner.save(t);
      },
      lock: inner.lock,
    };
    const events: TokenSourceEvent[] = [];
    const source = createTokenSource({
      clock,
      store,
      random: () => 0,
      initial: pair("S0", clock.now() - HOUR),
      refresh: async () => pair("S1", clock.now()),
      onEvent: (e) => events.push(e),
    });
    expect(await source.getToken()).toBe("S1");
    await flush();
    expect(events.some((e) => e.type === "persist_failed")).toBe(true);
    clock.advance(10);
    await source.setToken(pair("S2", clock.now()));
    expect((await inner.load())?.accessToken).toBe("S2");
    for (let i = 0; i < 5; i++) {
      clock.advance(60_000);
      await flush();
    }
    expect((await inner.load())?.accessToken).toBe("S2");
  });
});

describe("token source: a refresh that outlives its timeout", () => {
  it("a refresh function that ignores the abort signal cannot hang callers: they fail at the timeout", async () => {
    const clock = createManualClock();
    const source = createTokenSource({
      clock,
      refreshTimeoutMs: 5000,
      initial: pair("OLD", clock.now() - HOUR),
      refresh: () => new Promise(() => {}),
    });
    const outcome = source.getToken().then(
      () => "resolved",
      (e: unknown) => ConnectError.from(e).code,
    );
    await flush();
    clock.advance(5000);
    await flush();
    expect(await Promise.race([outcome, flush().then(() => "pending")])).toBe(Code.DeadlineExceeded);
  });

  it("a success arriving after the timeout is kept (the server already rotated) and persisted", async () => {
    const clock = createManualClock();
    const m = manualRefresh();
    const store = createMemoryTokenStore();
    const source = createTokenSource({ clock, store, refreshTimeoutMs: 5000, initial: pair("OLD", clock.now() - HOUR), refresh: m.refresh });
    const first = source.getToken();
    await flush();
    clock.advance(5000);
    await expect(first).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    m.calls[0]!.resolve(pair("LATE", clock.now()));
    await flush();
    expect(source.current()?.accessToken).toBe("LATE");
    expect((await store.load())?.accessToken).toBe("LATE");
    expect(await source.getToken()).toBe("LATE");
    expect(m.calls).toHaveLength(1);
  });

  it("a success arriving after the timeout is dropped when a newer token exists", async () => {
    const clock = createManualClock();
    const m = manualRefresh();
    const source = createTokenSource({ clock, refreshTimeoutMs: 5000, initial: pair("OLD", clock.now() - HOUR), refresh: m.refresh });
    const first = source.getToken();
    await flush();
    clock.advance(5000);
    await expect(first).rejects.toMatchObject({ code: Code.DeadlineExceeded });
    await source.setToken(pair("LOGIN", clock.now()));
    m.calls[0]!.resolve(pair("LATE", clock.now()));
    await flush();
    expect(source.current()?.accessToken).toBe("LOGIN");
  });
});

import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../../src/auth-error.js";
import { createAsyncMutex, type AsyncMutex } from "../../src/client/async-mutex.js";
import { createCrossTabTokenStore, type CrossTabTokenStore, type WebLocks } from "../../src/client/cross-tab-token-store.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenSource, type RefreshFunction, type TokenSource } from "../../src/client/token-source.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createWebStorageTokenStore } from "../../src/client/web-storage-token-store.js";
import { createManualClock, until, type ManualClock } from "../helpers/manual-clock.js";

/** A Web Storage over a Map, shared by the "tabs" of one test like an origin's localStorage. */
function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
    key: (i) => [...m.keys()][i] ?? null,
  };
}

/** navigator.locks for one origin: one FIFO mutex per lock name. */
function fakeLocks(): WebLocks & { requests: number } {
  const mutexes = new Map<string, AsyncMutex>();
  const locks = {
    requests: 0,
    request<T>(name: string, options: { signal?: AbortSignal }, callback: () => Promise<T>): Promise<T> {
      locks.requests++;
      let m = mutexes.get(name);
      if (m === undefined) mutexes.set(name, (m = createAsyncMutex()));
      return m.run(callback, options.signal);
    },
  };
  return locks;
}

/**
 * A token server with reuse detection and no grace window: presenting any
 * refresh token but the current one revokes the family. RPCs are counted.
 */
function fakeTokenServer(clock: ManualClock, lifetimeMs = 10_000) {
  let current = 0;
  let revoked = false;
  const server = {
    rpcs: 0,
    get revoked() {
      return revoked;
    },
    pair(n: number): StoredToken {
      return { accessToken: `at-${n}`, refreshToken: `rt-${n}`, receivedAt: clock.now(), expiresAt: clock.now() + lifetimeMs, sessionId: "s1" };
    },
    refresh: (async (cur) => {
      server.rpcs++;
      // The call takes a turn of the event loop, as a real one would, so that racing tabs really race.
      await new Promise((r) => setImmediate(r));
      if (revoked || cur?.refreshToken !== `rt-${current}`) {
        revoked = true;
        throw authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "refresh token reused; the session is revoked");
      }
      current++;
      return server.pair(current);
    }) as RefreshFunction,
  };
  return server;
}

const stores: CrossTabTokenStore[] = [];
const sources: TokenSource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.close();
  for (const s of stores.splice(0)) s.close();
});

function tabSource(clock: ManualClock, server: ReturnType<typeof fakeTokenServer>, store: CrossTabTokenStore, events: TokenSourceEvent[]) {
  const source = createTokenSource({
    refresh: server.refresh,
    store,
    clock,
    random: () => 0,
    minMarginMs: 2000,
    expiryMarginMs: 1000,
    minForcedRefreshIntervalMs: 0,
    onEvent: (e) => events.push(e),
  });
  sources.push(source);
  return source;
}

async function setup(n: number, opts: { locks?: boolean; channel?: boolean } = {}) {
  const clock = createManualClock();
  const server = fakeTokenServer(clock);
  const storage = memoryStorage();
  const locks = fakeLocks();
  const name = `test-${Math.random().toString(36).slice(2)}`;
  const tabs = Array.from({ length: n }, () => {
    const store = createCrossTabTokenStore({
      name,
      store: createWebStorageTokenStore({ storage, key: name }),
      locks: opts.locks === false ? false : locks,
      ...(opts.channel === false ? { channel: false as const } : {}),
    });
    stores.push(store);
    const events: TokenSourceEvent[] = [];
    return { store, events, source: tabSource(clock, server, store, events) };
  });
  // The login: one tab installs the first pair; the others find it in storage.
  await tabs[0]!.source.setToken(server.pair(0));
  return { clock, server, locks, tabs };
}

describe("createCrossTabTokenStore", () => {
  it("three tabs at their refresh point together: one refresh RPC, one rotation, every tab on the new pair", async () => {
    const { clock, server, tabs } = await setup(3);
    // Every tab has a usable token (the other two from storage).
    expect(await Promise.all(tabs.map((t) => t.source.getToken()))).toEqual(["at-0", "at-0", "at-0"]);
    clock.advance(8_500); // past the refresh point (10 s − max(2.5 s, 2 s) margin), still usable
    // All three want a new token at the same moment.
    await Promise.all(tabs.map((t) => t.source.getToken({ forceRefresh: true, failedToken: "at-0" })));
    expect(server.rpcs).toBe(1);
    expect(server.revoked).toBe(false);
    expect(tabs.map((t) => t.source.current()!.accessToken)).toEqual(["at-1", "at-1", "at-1"]);
    const outcomes = tabs.flatMap((t) => t.events.filter((e) => e.type === "refresh").map((e) => (e as { outcome: string }).outcome));
    expect(outcomes.filter((o) => o === "success")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "adopted").length).toBeGreaterThanOrEqual(2);
  });

  it("a saved pair is announced on the BroadcastChannel: the other tabs adopt it without a refresh of their own", async () => {
    const { clock, server, tabs } = await setup(3);
    await Promise.all(tabs.map((t) => t.source.getToken()));
    clock.advance(8_500);
    await tabs[0]!.source.getToken({ forceRefresh: true });
    await until(() => tabs.every((t) => t.source.current()?.accessToken === "at-1"));
    expect(server.rpcs).toBe(1);
    for (const t of tabs.slice(1)) {
      expect(t.events).toContainEqual(expect.objectContaining({ type: "refresh", cause: "notified", outcome: "adopted" }));
    }
    // Their next calls need no refresh: the adopted token is fresh.
    await Promise.all(tabs.map((t) => t.source.getToken()));
    expect(server.rpcs).toBe(1);
  });

  it("a refresh that waited for the lock while the new pair was announced adopts it instead of rotating again", async () => {
    const { clock, server, tabs } = await setup(2);
    const [a, b] = tabs as [(typeof tabs)[0], (typeof tabs)[0]];
    await b.source.getToken();
    // Tab A holds the lock (its refresh in flight)...
    let release!: () => void;
    const held = a.store.lock(() => new Promise<void>((r) => (release = r)));
    clock.advance(8_500);
    // ...while tab B passes its refresh point: its background refresh queues for the lock.
    expect(await b.source.getToken()).toBe("at-0");
    // A rotates, saves and announces; B adopts the announced pair while still queued.
    const next = await server.refresh(a.source.current(), { signal: new AbortController().signal, cause: "proactive" });
    await a.store.save(next);
    await until(() => b.source.current()?.accessToken === "at-1");
    release();
    await held;
    await until(() => b.events.some((e) => e.type === "refresh" && e.cause === "proactive"));
    expect(server.rpcs).toBe(1);
    expect(server.revoked).toBe(false);
    expect(b.events.filter((e) => e.type === "refresh")).toEqual([
      expect.objectContaining({ cause: "notified", outcome: "adopted" }),
      expect.objectContaining({ cause: "proactive", outcome: "adopted" }),
    ]);
  });

  it("a login in another tab ends this tab's session-expired state", async () => {
    const { clock, tabs } = await setup(2);
    const [a, b] = tabs as [(typeof tabs)[0], (typeof tabs)[0]];
    await a.source.setToken({ accessToken: "at-x", refreshToken: "not-the-current-one", receivedAt: clock.now(), expiresAt: clock.now() + 10_000 });
    await expect(a.source.getToken({ forceRefresh: true })).rejects.toMatchObject({ code: 16 });
    expect(a.source.state).toBe("session_expired");
    clock.advance(1);
    await b.source.setToken({ accessToken: "at-new", refreshToken: "rt-new", receivedAt: clock.now(), expiresAt: clock.now() + 10_000 });
    await until(() => a.source.state === "active");
    expect(await a.source.getToken()).toBe("at-new");
  });

  it("messages carry no token text", async () => {
    const seen: unknown[] = [];
    const name = `test-${Math.random().toString(36).slice(2)}`;
    const spy = new BroadcastChannel(name);
    spy.onmessage = (e) => seen.push(e.data);
      const store = createCrossTabTokenStore({ name, store: createWebStorageTokenStore({ storage: memoryStorage(), key: name }), locks: false });
    stores.push(store);
    await store.save({ accessToken: "secret-at", refreshToken: "secret-rt", receivedAt: 1, expiresAt: 2 });
    await until(() => seen.length > 0);
    spy.close();
    expect(JSON.stringify(seen)).not.toContain("secret");
  });

  it("control: without Web Locks (in-tab lock only) and no grace window, three racing tabs trip reuse detection", async () => {
    const { clock, server, tabs } = await setup(3, { locks: false, channel: false });
    await Promise.all(tabs.map((t) => t.source.getToken()));
    clock.advance(8_500);
    await Promise.allSettled(tabs.map((t) => t.source.getToken({ forceRefresh: true, failedToken: "at-0" })));
    expect(server.rpcs).toBe(3);
    // The family is revoked: whatever pair a tab holds now, its next rotation ends the session.
    expect(server.revoked).toBe(true);
    clock.advance(8_500);
    await expect(tabs[0]!.source.getToken({ forceRefresh: true })).rejects.toMatchObject({ code: 16 });
    expect(tabs[0]!.source.state).toBe("session_expired");
  });

  it("without BroadcastChannel a tab adopts under the lock at its own refresh point: still one RPC per rotation", async () => {
    const { clock, server, tabs } = await setup(3, { channel: false });
    for (const t of tabs) expect(t.store.broadcast).toBe(false);
    await Promise.all(tabs.map((t) => t.source.getToken()));
    for (let rotation = 1; rotation <= 5; rotation++) {
      clock.advance(8_000);
      // One tab after the other reaches its point (a proactive background refresh each).
      for (const t of tabs) {
        await t.source.getToken();
        await until(() => t.source.current()?.accessToken === `at-${rotation}`);
      }
    }
    expect(server.rpcs).toBe(5);
    expect(server.revoked).toBe(false);
  });

  it("falls back to an in-tab lock where navigator.locks is missing: sources of one tab still refresh once", async () => {
    const clock = createManualClock();
    const server = fakeTokenServer(clock);
    const name = `test-${Math.random().toString(36).slice(2)}`;
    // No `locks` option, so this is the real auto-detection, on a navigator without Web Locks (Node 20
    // has no navigator at all; Node 22+ has one, and Node 24+ gives it `locks`).
    vi.stubGlobal("navigator", {});
    let store: ReturnType<typeof createCrossTabTokenStore>;
    try {
      store = createCrossTabTokenStore({ name, store: createWebStorageTokenStore({ storage: memoryStorage(), key: name }) });
    } finally {
      vi.unstubAllGlobals();
    }
    stores.push(store);
    expect(store.webLocks).toBe(false);
    const a = tabSource(clock, server, store, []);
    const b = tabSource(clock, server, store, []);
    await a.setToken(server.pair(0));
    await b.getToken();
    clock.advance(8_500);
    await Promise.all([a.getToken({ forceRefresh: true }), b.getToken({ forceRefresh: true })]);
    expect(server.rpcs).toBe(1);
    expect(b.current()!.accessToken).toBe("at-1");
  });

  it("uses the Web Lock named after the store, and an aborted wait leaves the queue", async () => {
    const locks = fakeLocks();
    const names: string[] = [];
    const store = createCrossTabTokenStore({
      name: "tk",
      store: { load: async () => undefined, save: async () => {} },
      locks: { request: (n, o, cb) => (names.push(n), locks.request(n, o, cb)) },
      channel: false,
    });
    stores.push(store);
    expect(store.webLocks).toBe(true);
    let release!: () => void;
    const held = store.lock(() => new Promise<void>((r) => (release = r)));
    const controller = new AbortController();
    const waiting = store.lock(async () => "never", { signal: controller.signal });
    controller.abort(new Error("gave up"));
    await expect(waiting).rejects.toThrow("gave up");
    release();
    await held;
    expect(await store.lock(async () => "next")).toBe("next");
    expect(names).toEqual(["tk", "tk", "tk"]);
  });

  it("validates its options with a TypeError naming them", () => {
    expect(() => createCrossTabTokenStore({ name: "" })).toThrow(/option "name"/);
    expect(() => createCrossTabTokenStore({ store: {} as never, channel: false })).toThrow(/option "store"/);
    const store = { load: async () => undefined, save: async () => {} };
    expect(() => createCrossTabTokenStore({ store, locks: {} as never })).toThrow(/option "locks"/);
    expect(() => createCrossTabTokenStore({ store, channel: "x" as never })).toThrow(/option "channel"/);
    // The default store is localStorage, which Node lacks.
    expect(() => createCrossTabTokenStore({ channel: false })).toThrow(/option "storage"/);
  });
});


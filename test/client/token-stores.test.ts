import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/client/memory-token-store.js";
import { createTokenSource } from "../../src/client/token-source.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createWebStorageTokenStore } from "../../src/client/web-storage-token-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

const HOUR = 3_600_000;

function mapStorage(): Storage {
  const m = new Map<string, string>();
  return {
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem: (k) => m.get(k) ?? null,
    key: (i) => [...m.keys()][i] ?? null,
    removeItem: (k) => void m.delete(k),
    setItem: (k, v) => void m.set(k, String(v)),
  };
}

describe("client token stores", () => {
  it("memory store copies values in and out and runs lock holders one at a time, in order", async () => {
    const store = createMemoryTokenStore();
    const t: StoredToken = { accessToken: "a", receivedAt: 0, expiresAt: 1, scopes: ["x"] };
    await store.save(t);
    t.scopes!.push("mutated");
    expect((await store.load())!.scopes).toEqual(["x"]);
    const order: string[] = [];
    let inside = 0;
    await Promise.all(
      ["a", "b", "c"].map((name) =>
        store.lock!(async () => {
          inside++;
          expect(inside).toBe(1);
          order.push(name);
          await new Promise((r) => setImmediate(r));
          inside--;
        }),
      ),
    );
    expect(order).toEqual(["a", "b", "c"]);
    await expect(store.lock!(async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    expect(await store.lock!(async () => 42)).toBe(42);
  });

  it("web storage store round-trips and treats a corrupt value as absent, reporting it", async () => {
    const storage = mapStorage();
    const errors: unknown[] = [];
    const store = createWebStorageTokenStore({ storage, key: "k", onError: (e) => errors.push(e) });
    await store.save({ accessToken: "a", receivedAt: 1, expiresAt: 2 });
    expect(await store.load()).toEqual({ accessToken: "a", receivedAt: 1, expiresAt: 2 });
    storage.setItem("k", "{not json");
    expect(await store.load()).toBeUndefined();
    storage.setItem("k", JSON.stringify({ version: 1, token: { nope: true } }));
    expect(await store.load()).toBeUndefined();
    expect(errors).toHaveLength(2);
    await store.save(undefined);
    expect(storage.getItem("k")).toBeNull();
    expect(() => createWebStorageTokenStore({ storage, key: "" })).toThrow(/key/);
  });

  it("two token sources sharing a locked store refresh once; the other adopts the saved pair", async () => {
    const clock = createManualClock();
    const store = createMemoryTokenStore({ accessToken: "T1", refreshToken: "R1", receivedAt: clock.now(), expiresAt: clock.now() + HOUR });
    const spent: string[] = [];
    const refresh = async (current: StoredToken | undefined) => {
      spent.push(current!.refreshToken!);
      const n = spent.length + 1;
      return { accessToken: `T${n}`, refreshToken: `R${n}`, receivedAt: clock.now(), expiresAt: clock.now() + HOUR };
    };
    const a = createTokenSource({ refresh, store, clock });
    const b = createTokenSource({ refresh, store, clock });
    expect(await a.getToken()).toBe("T1");
    expect(await b.getToken()).toBe("T1");
    clock.advance(50 * 60_000);
    // Both are past the refresh point and usable: both start a background refresh.
    await Promise.all([a.getToken(), b.getToken()]);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(spent).toEqual(["R1"]);
    expect(a.current()!.accessToken).toBe("T2");
    expect(b.current()!.accessToken).toBe("T2");
    expect((await store.load())!.refreshToken).toBe("R2");
  });

  it("a failed save never fails the call: persist_failed is emitted and the save is retried", async () => {
    const clock = createManualClock();
    let fail = true;
    const saved: string[] = [];
    const events: string[] = [];
    const source = createTokenSource({
      clock,
      random: () => 0,
      initial: { accessToken: "", refreshToken: "r", receivedAt: 0, expiresAt: 0 },
      refresh: async () => ({ accessToken: "T2", refreshToken: "r2", receivedAt: clock.now(), expiresAt: clock.now() + HOUR }),
      store: {
        load: async () => undefined,
        save: async (t) => {
          if (fail) throw new Error("disk full");
          saved.push(t!.accessToken);
        },
      },
      onEvent: (e) => events.push(e.type),
    });
    expect(await source.getToken()).toBe("T2");
    expect(events).toContain("persist_failed");
    fail = false;
    clock.advance(1000);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(saved).toEqual(["T2"]);
  });
});

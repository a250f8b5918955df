import { describe, expect, it } from "vitest";
import { createMemoryTokenStore } from "../../src/client/memory-token-store.js";
import { decodeStoredToken, encodeStoredToken, TokenStoreCorruptError } from "../../src/client/stored-token-codec.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createWebStorageTokenStore } from "../../src/client/web-storage-token-store.js";

const full: StoredToken = {
  accessToken: "at",
  refreshToken: "rt",
  receivedAt: 1,
  expiresAt: 2,
  refreshExpiresAt: 3,
  sessionId: "sid",
  scopes: ["a", "b"],
};

/** mapStorage is a Map-backed Web Storage (there is no browser here); `broken` makes every call throw as a disabled storage does. */
function mapStorage(): Storage & { broken: boolean } {
  const m = new Map<string, string>();
  const s = {
    broken: false,
    get length() {
      return m.size;
    },
    clear: () => m.clear(),
    getItem(k: string) {
      if (s.broken) throw new Error("SecurityError: storage is disabled");
      return m.get(k) ?? null;
    },
    key: (i: number) => [...m.keys()][i] ?? null,
    removeItem: (k: string) => void m.delete(k),
    setItem(k: string, v: string) {
      if (s.broken) throw new Error("QuotaExceededError");
      m.set(k, String(v));
    },
  };
  return s;
}

describe("stored token format", () => {
  it("round-trips every field with a version, and drops fields that are not part of StoredToken", () => {
    const text = encodeStoredToken({ ...full, extra: "not persisted" } as StoredToken);
    expect(JSON.parse(text)).toEqual({ version: 1, token: full });
    expect(decodeStoredToken(text, "x")).toEqual(full);
    expect(decodeStoredToken(encodeStoredToken({ accessToken: "a", receivedAt: 0, expiresAt: 0 }), "x")).toEqual({ accessToken: "a", receivedAt: 0, expiresAt: 0 });
  });

  it.each([
    ["not JSON", '{"version":1,"token":{"accessToken":"SECRET', /not valid JSON/],
    ["an array", "[1]", /does not hold/],
    ["no version", JSON.stringify({ token: { accessToken: "SECRET" } }), /no format version/],
    ["a newer version", JSON.stringify({ version: 2, token: full }), /format version 2; this tokenkit reads version 1/],
    ["no token", JSON.stringify({ version: 1 }), /no "token" object/],
    ["accessToken not a string", JSON.stringify({ version: 1, token: { ...full, accessToken: 5 } }), /token\.accessToken/],
    ["expiresAt missing", JSON.stringify({ version: 1, token: { accessToken: "SECRET", receivedAt: 1 } }), /token\.expiresAt/],
    ["refreshToken not a string", JSON.stringify({ version: 1, token: { ...full, refreshToken: ["SECRET"] } }), /token\.refreshToken/],
    ["scopes not strings", JSON.stringify({ version: 1, token: { ...full, scopes: [1] } }), /token\.scopes/],
  ])("rejects %s with ERR_TOKEN_STORE_CORRUPT, naming the place, never the content", (_name, text, message) => {
    let err: unknown;
    try {
      decodeStoredToken(text, "THE-PLACE");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TokenStoreCorruptError);
    expect(err).toMatchObject({ code: "ERR_TOKEN_STORE_CORRUPT", name: "TokenStoreCorruptError", message: expect.stringMatching(message) });
    expect((err as Error).message).toContain("THE-PLACE");
    expect((err as Error).message).not.toContain("SECRET");
    expect((err as Error).cause).toBeUndefined();
  });
});

describe("web storage token store", () => {
  it("stores versioned JSON under the key; a corrupt value reads as no token and is reported as ERR_TOKEN_STORE_CORRUPT", async () => {
    const storage = mapStorage();
    const errors: unknown[] = [];
    const store = createWebStorageTokenStore({ storage, onError: (e) => errors.push(e) });
    await store.save(full);
    expect(JSON.parse(storage.getItem("tokenkit.token")!)).toEqual({ version: 1, token: full });
    expect(await store.load()).toEqual(full);
    storage.setItem("tokenkit.token", JSON.stringify({ version: 1, token: { accessToken: "SECRET" } }));
    expect(await store.load()).toBeUndefined();
    expect(errors).toEqual([expect.any(TokenStoreCorruptError)]);
    expect((errors[0] as Error).message).toContain('"tokenkit.token"');
  });

  it("load never throws, even when the storage itself does; save reports the storage's error", async () => {
    const storage = mapStorage();
    const errors: unknown[] = [];
    const store = createWebStorageTokenStore({
      storage,
      onError: (e) => {
        errors.push(e);
        throw new Error("a throwing observer changes nothing");
      },
    });
    await store.save(full);
    storage.broken = true;
    expect(await store.load()).toBeUndefined();
    expect(errors).toEqual([expect.objectContaining({ message: "SecurityError: storage is disabled" })]);
    await expect(store.save(full)).rejects.toThrow("QuotaExceededError");
  });

  it("copies: loaded tokens are fresh objects", async () => {
    const store = createWebStorageTokenStore({ storage: mapStorage() });
    await store.save(full);
    (await store.load())!.scopes!.push("mutated");
    expect((await store.load())!.scopes).toEqual(["a", "b"]);
  });

  it("validates options: a TypeError names the option; there is no localStorage here", () => {
    expect(() => createWebStorageTokenStore()).toThrow(/"storage" is required/);
    expect(() => createWebStorageTokenStore({ storage: {} as Storage })).toThrow(/"storage" must implement/);
    expect(() => createWebStorageTokenStore({ storage: mapStorage(), onError: 1 as never })).toThrow(/onError/);
  });
});

describe("memory token store lock", () => {
  it("an aborted waiter rejects at once with the signal's reason and leaves the queue; later holders still run in order", async () => {
    const store = createMemoryTokenStore();
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = store.lock!(
      () =>
        new Promise<void>((r) => {
          order.push("first");
          releaseFirst = r;
        }),
    );
    const ac = new AbortController();
    const aborted = store.lock!(async () => void order.push("aborted"), { signal: ac.signal });
    const third = store.lock!(async () => void order.push("third"));
    await new Promise((r) => setImmediate(r));
    ac.abort(new Error("gave up"));
    await expect(aborted).rejects.toThrow("gave up");
    // The third waits for the first still: the aborted waiter did not let it jump the queue.
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(["first"]);
    releaseFirst();
    await Promise.all([first, third]);
    expect(order).toEqual(["first", "third"]);
    await expect(store.lock!(async () => 1, { signal: AbortSignal.abort(new Error("already")) })).rejects.toThrow("already");
  });
});

import { IDBFactory } from "fake-indexeddb";
import { describe, expect, it } from "vitest";
import { createCrossTabTokenStore } from "../../src/client/cross-tab-token-store.js";
import { createIndexedDbTokenStore } from "../../src/client/indexeddb-token-store.js";
import { TokenStoreCorruptError } from "../../src/client/stored-token-codec.js";
import type { StoredToken } from "../../src/client/token-store.js";

const token: StoredToken = { accessToken: "at", refreshToken: "rt", receivedAt: 1000, expiresAt: 11_000, sessionId: "s", scopes: ["a"] };

describe("createIndexedDbTokenStore", () => {
  it("round-trips a token, replaces it, clears it; a second store on the same database sees each committed save", async () => {
    const indexedDB = new IDBFactory();
    const a = createIndexedDbTokenStore({ indexedDB });
    const b = createIndexedDbTokenStore({ indexedDB });
    expect(await a.load()).toBeUndefined();
    await a.save(token);
    expect(await b.load()).toEqual(token);
    await b.save({ ...token, accessToken: "at2" });
    expect((await a.load())!.accessToken).toBe("at2");
    await a.save(undefined);
    expect(await b.load()).toBeUndefined();
  });

  it("keeps keys and databases apart", async () => {
    const indexedDB = new IDBFactory();
    await createIndexedDbTokenStore({ indexedDB, key: "one" }).save(token);
    expect(await createIndexedDbTokenStore({ indexedDB, key: "two" }).load()).toBeUndefined();
    expect(await createIndexedDbTokenStore({ indexedDB, database: "other", key: "one" }).load()).toBeUndefined();
    expect(await createIndexedDbTokenStore({ indexedDB, key: "one" }).load()).toEqual(token);
  });

  it("reads a corrupt value as no token and reports it without its content", async () => {
    const indexedDB = new IDBFactory();
    const store = createIndexedDbTokenStore({ indexedDB });
    await store.save(token);
    // Overwrite the record with garbage holding a secret-looking string.
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.open("tokenkit", 1);
      req.onsuccess = () => {
        const tx = req.result.transaction("tokens", "readwrite");
        tx.objectStore("tokens").put('{"version":1,"token":{"accessToken":"leak-me"}}', "tokenkit.token");
        tx.oncomplete = () => {
          req.result.close();
          resolve();
        };
        tx.onerror = () => reject(tx.error);
      };
    });
    const errors: unknown[] = [];
    const reader = createIndexedDbTokenStore({ indexedDB, onError: (e) => errors.push(e) });
    expect(await reader.load()).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TokenStoreCorruptError);
    expect(String((errors[0] as Error).message)).not.toContain("leak-me");
  });

  it("validates its options with a TypeError naming them", () => {
    // Node has no globalThis.indexedDB.
    expect(() => createIndexedDbTokenStore()).toThrow(/option "indexedDB"/);
    const indexedDB = new IDBFactory();
    expect(() => createIndexedDbTokenStore({ indexedDB: {} as never })).toThrow(/option "indexedDB"/);
    expect(() => createIndexedDbTokenStore({ indexedDB, database: "" })).toThrow(/option "database"/);
    expect(() => createIndexedDbTokenStore({ indexedDB, key: "" })).toThrow(/option "key"/);
    expect(() => createIndexedDbTokenStore({ indexedDB, onError: 1 as never })).toThrow(/option "onError"/);
  });

  it("is the cross-tab store's default where indexedDB exists", async () => {
    const g = globalThis as { indexedDB?: unknown };
    const indexedDB = new IDBFactory();
    g.indexedDB = indexedDB;
    try {
      const store = createCrossTabTokenStore({ name: "default-test", channel: false });
      await store.save(token);
      expect(await createIndexedDbTokenStore({ indexedDB, key: "default-test" }).load()).toEqual(token);
    } finally {
      delete g.indexedDB;
    }
  });
});

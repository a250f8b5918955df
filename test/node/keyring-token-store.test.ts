import { describe, expect, it } from "vitest";
import { TokenStoreCorruptError } from "../../src/client/stored-token-codec.js";
import type { StoredToken } from "../../src/client/token-store.js";
import {
  createKeyringTokenStore,
  createKeyringTokenStoreWith,
  KeyringUnavailableError,
  type KeyringModule,
} from "../../src/node/keyring-token-store.js";

const token: StoredToken = { accessToken: "at-SECRET", refreshToken: "rt-SECRET", receivedAt: 1, expiresAt: 2, scopes: ["a"] };
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e as Error & { code?: string },
  );

/**
 * inMemoryKeyring is a stand-in for @napi-rs/keyring with the same Entry
 * surface, for the store's own logic (encoding, corrupt entries, error
 * classification): the real module cannot store anything on this host.
 * `fail` makes the next call throw the given keyring-rs message.
 */
function inMemoryKeyring() {
  const values = new Map<string, string>();
  const state = { fail: undefined as string | undefined };
  const check = () => {
    const f = state.fail;
    state.fail = undefined;
    if (f !== undefined) throw Object.assign(new Error(f), { code: "GenericFailure" });
  };
  class AsyncEntry {
    readonly key: string;
    constructor(service: string, account: string) {
      this.key = `${service}/${account}`;
    }
    async getPassword() {
      check();
      return values.get(this.key) ?? null;
    }
    async setPassword(p: string) {
      check();
      values.set(this.key, p);
    }
    async deletePassword() {
      check();
      return values.delete(this.key);
    }
  }
  return { module: { AsyncEntry } as KeyringModule, values, state };
}

describe("OS keyring token store", () => {
  it("on this host (Linux, no D-Bus, no Secret Service) every call fails with ERR_KEYRING_UNAVAILABLE and a clear message", async () => {
    const store = createKeyringTokenStore({ account: `ci-${process.pid}` });
    for (const call of [() => store.save(token), () => store.load(), () => store.save(undefined)]) {
      const err = await rejection(call());
      expect(err).toBeInstanceOf(KeyringUnavailableError);
      expect(err.code).toBe("ERR_KEYRING_UNAVAILABLE");
      expect(err.message).toMatch(/^no OS keyring service available: .*D-?Bus.*; use createFileTokenStore instead$/i);
      expect(err.message).not.toContain("SECRET");
    }
  });

  it("without the optional dependency it fails with ERR_KEYRING_UNAVAILABLE naming the package", async () => {
    const missing = Object.assign(new Error("Cannot find package '@napi-rs/keyring'"), { code: "ERR_MODULE_NOT_FOUND" });
    const store = createKeyringTokenStoreWith(() => Promise.reject(missing), { account: "x" });
    const err = await rejection(store.load());
    expect(err).toMatchObject({ code: "ERR_KEYRING_UNAVAILABLE", cause: missing });
    expect(err.message).toMatch(/^no OS keyring service available: the optional dependency @napi-rs\/keyring is not installed .*; use createFileTokenStore instead$/);
  });

  it("round-trips and clears through the Entry API; a corrupt entry is ERR_TOKEN_STORE_CORRUPT without quoting it", async () => {
    const k = inMemoryKeyring();
    const store = createKeyringTokenStoreWith(async () => k.module, { account: "alice" });
    expect(await store.load()).toBeUndefined();
    await store.save(token);
    expect(JSON.parse(k.values.get("tokenkit/alice")!)).toEqual({ version: 1, token });
    expect(await store.load()).toEqual(token);
    await store.save(undefined);
    expect(k.values.size).toBe(0);
    await store.save(undefined);
    k.values.set("tokenkit/alice", '{"version":1,"token":{"accessToken":"SECRET');
    const err = await rejection(store.load());
    expect(err).toBeInstanceOf(TokenStoreCorruptError);
    expect(err.message).toContain('"tokenkit/alice"');
    expect(err.message).not.toContain("SECRET");
  });

  it("tells an unusable keyring (ERR_KEYRING_UNAVAILABLE) from a refused entry (ERR_KEYRING_FAILED), and retries after either", async () => {
    const k = inMemoryKeyring();
    const store = createKeyringTokenStoreWith(async () => k.module, { account: "bob" });
    k.state.fail = "Couldn't access platform storage: AccessDenied";
    expect(await rejection(store.save(token))).toMatchObject({ code: "ERR_KEYRING_UNAVAILABLE" });
    k.state.fail = "Attribute 'password' is longer than platform limit of 2560 chars";
    const err = await rejection(store.save(token));
    expect(err).not.toBeInstanceOf(KeyringUnavailableError);
    expect(err).toMatchObject({ code: "ERR_KEYRING_FAILED", message: expect.stringContaining('writing keyring entry "tokenkit/bob" failed: Attribute') });
    await store.save(token);
    expect(await store.load()).toEqual(token);
  });

  it("validates options", () => {
    expect(() => createKeyringTokenStore({ account: "" })).toThrow(/account/);
    expect(() => createKeyringTokenStore({ account: "a", service: "" })).toThrow(/service/);
    expect(() => createKeyringTokenStore({ account: "a", linuxStore: "kwallet" as never })).toThrow(/linuxStore/);
  });
});

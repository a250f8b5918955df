import { decodeStoredToken, encodeStoredToken } from "../client/stored-token-codec.js";
import type { TokenStore } from "../client/token-store.js";

/** KeyringTokenStoreOptions configures {@link createKeyringTokenStore}. */
export interface KeyringTokenStoreOptions {
  /** service names the keyring entry's service. @default "tokenkit" */
  service?: string;
  /** account names the keyring entry, e.g. the user or the agent. Required. */
  account: string;
  /**
   * linuxStore picks the Linux credential store (ignored elsewhere):
   * `"secret-service"` (GNOME Keyring, KWallet over D-Bus) or `"keyutils"`
   * (the kernel keyring).
   * @default "secret-service" — kernel keyring entries live in the session
   * keyring and are lost at logout or reboot, which a token store must survive.
   * Warning: with `"keyutils"` a session does not survive a reboot.
   */
  linuxStore?: "secret-service" | "keyutils";
}

/**
 * KeyringError is raised by the keyring token store. `code` is
 * `ERR_KEYRING_UNAVAILABLE` (see {@link KeyringUnavailableError}) or
 * `ERR_KEYRING_FAILED`: the keyring refused this entry (for example a value
 * over the platform's size limit — Windows allows 2 560 bytes).
 */
export class KeyringError extends Error {
  override name = "KeyringError";
  /** code identifies the failure. */
  readonly code: "ERR_KEYRING_UNAVAILABLE" | "ERR_KEYRING_FAILED";
  constructor(code: KeyringError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * KeyringUnavailableError (`ERR_KEYRING_UNAVAILABLE`) means no OS keyring can
 * be used here: `@napi-rs/keyring` is not installed, or no keyring service
 * answers (a headless Linux host without D-Bus or a Secret Service).
 */
export class KeyringUnavailableError extends KeyringError {
  override name = "KeyringUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("ERR_KEYRING_UNAVAILABLE", message, options);
  }
}

/** KeyringEntry is the part of `@napi-rs/keyring`'s `AsyncEntry` (or, in older versions, `Entry`) used here. */
interface KeyringEntry {
  getPassword(): Promise<string | null | undefined> | string | null | undefined;
  setPassword(password: string): Promise<void> | void;
  deletePassword(): Promise<boolean | void> | boolean | void;
}

type EntryConstructor = new (service: string, account: string, options?: { linux?: { store?: string } }) => KeyringEntry;

/** KeyringModule is the shape of `@napi-rs/keyring` this store needs. */
export interface KeyringModule {
  AsyncEntry?: EntryConstructor;
  Entry?: EntryConstructor;
}

// keyring-rs reports an unusable platform store with these (PlatformFailure, NoStorageAccess).
const UNAVAILABLE = /platform (secure storage )?failure|access platform storage|d-?bus|secret service|no such interface|not available/i;
const NO_ENTRY = /no matching entry/i;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function unavailable(detail: string, cause: unknown): KeyringUnavailableError {
  return new KeyringUnavailableError(`no OS keyring service available: ${detail}; use createFileTokenStore instead`, { cause });
}

/**
 * createKeyringTokenStore returns a {@link TokenStore} in the OS keyring
 * (macOS Keychain, Windows Credential Manager, the Secret Service on Linux)
 * through the optional dependency `@napi-rs/keyring`, loaded on first use.
 *
 * Where that package is missing or no keyring service answers, every call
 * rejects with {@link KeyringUnavailableError} (`ERR_KEYRING_UNAVAILABLE`,
 * message `no OS keyring service available: …; use createFileTokenStore
 * instead`); it never falls back to a file by itself. A stored value that is
 * not a token rejects with `ERR_TOKEN_STORE_CORRUPT`. No message carries
 * token text. It has no cross-process `lock`: processes sharing one entry may
 * rotate its refresh token concurrently; use the file store for that.
 *
 * @example
 * const store = createKeyringTokenStore({ account: "alice" });
 * await store.load().catch((err) => {
 *   if (err.code === "ERR_KEYRING_UNAVAILABLE") return useFileStoreInstead();
 *   throw err;
 * });
 */
export function createKeyringTokenStore(options: KeyringTokenStoreOptions): TokenStore {
  return createKeyringTokenStoreWith(() => import("@napi-rs/keyring") as Promise<KeyringModule>, options);
}

/** createKeyringTokenStoreWith is {@link createKeyringTokenStore} with the module loader injected (tests: a missing module). */
export function createKeyringTokenStoreWith(loadModule: () => Promise<KeyringModule>, options: KeyringTokenStoreOptions): TokenStore {
  const who = "createKeyringTokenStore";
  if (typeof options?.account !== "string" || options.account === "") {
    throw new TypeError(`${who}: option "account" must be a non-empty string`);
  }
  const service = options.service ?? "tokenkit";
  if (typeof service !== "string" || service === "") {
    throw new TypeError(`${who}: option "service" must be a non-empty string`);
  }
  const linuxStore = options.linuxStore ?? "secret-service";
  if (linuxStore !== "secret-service" && linuxStore !== "keyutils") {
    throw new TypeError(`${who}: option "linuxStore" must be "secret-service" or "keyutils"`);
  }
  const { account } = options;
  const where = `keyring entry "${service}/${account}"`;
  let entry: Promise<KeyringEntry> | undefined;

  async function open(): Promise<KeyringEntry> {
    let mod: KeyringModule;
    try {
      mod = await loadModule();
    } catch (err) {
      throw unavailable(`the optional dependency @napi-rs/keyring is not installed or does not load (${describe(err)})`, err);
    }
    const Ctor = mod.AsyncEntry ?? mod.Entry;
    if (typeof Ctor !== "function") {
      throw unavailable("@napi-rs/keyring has no Entry class", undefined);
    }
    try {
      return new Ctor(service, account, { linux: { store: linuxStore } });
    } catch (err) {
      throw unavailable(describe(err), err);
    }
  }

  async function use<T>(operation: string, fn: (e: KeyringEntry) => Promise<T> | T): Promise<T> {
    // A failed open is retried on the next call: a keyring daemon may start later.
    entry ??= open().catch((err: unknown) => {
      entry = undefined;
      throw err;
    });
    const e = await entry;
    try {
      return await fn(e);
    } catch (err) {
      const detail = describe(err);
      if (UNAVAILABLE.test(detail)) {
        throw unavailable(detail, err);
      }
      throw new KeyringError("ERR_KEYRING_FAILED", `${operation} ${where} failed: ${detail}`, { cause: err });
    }
  }

  return {
    async load() {
      const text = await use("reading", (e) => e.getPassword());
      return text === null || text === undefined ? undefined : decodeStoredToken(text, where);
    },
    async save(token) {
      if (token === undefined) {
        await use("deleting", async (e) => {
          try {
            await e.deletePassword();
          } catch (err) {
            if (!NO_ENTRY.test(describe(err))) throw err;
          }
        });
      } else {
        const text = encodeStoredToken(token);
        await use("writing", (e) => e.setPassword(text));
      }
    },
  };
}

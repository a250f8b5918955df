import type { StoredToken, TokenStore } from "../client/token-store.js";

/** KeyringTokenStoreOptions configures {@link createKeyringTokenStore}. */
export interface KeyringTokenStoreOptions {
  /** service names the keyring entry's service. @default "tokenkit" */
  service?: string;
  /** account names the keyring entry, e.g. the user or the agent. Required. */
  account: string;
}

/** KeyringUnavailableError is thrown where no OS keyring can be used; `code` is `ERR_KEYRING_UNAVAILABLE`. */
export class KeyringUnavailableError extends Error {
  override name = "KeyringUnavailableError";
  /** code identifies the failure. */
  readonly code = "ERR_KEYRING_UNAVAILABLE";
}

interface KeyringEntry {
  getPassword(): string | null | undefined;
  setPassword(password: string): void;
  deletePassword(): boolean | void;
}

/**
 * createKeyringTokenStore returns a {@link TokenStore} in the OS keyring
 * (macOS Keychain, Windows Credential Manager, the Secret Service on Linux)
 * through the optional dependency `@napi-rs/keyring`. Where that package is
 * not installed, or no keyring service runs (a headless Linux host without
 * D-Bus), every call fails with {@link KeyringUnavailableError} naming the
 * cause — never silently falling back to a file. It has no cross-process
 * `lock`.
 */
export function createKeyringTokenStore(options: KeyringTokenStoreOptions): TokenStore {
  if (typeof options?.account !== "string" || options.account === "") {
    throw new TypeError('createKeyringTokenStore: option "account" must be a non-empty string');
  }
  const service = options.service ?? "tokenkit";
  let entry: Promise<KeyringEntry> | undefined;

  function unavailable(cause: unknown): KeyringUnavailableError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return new KeyringUnavailableError(`no OS keyring service is available (${why}); use createFileTokenStore instead`, { cause });
  }

  function getEntry(): Promise<KeyringEntry> {
    entry ??= import("@napi-rs/keyring").then(
      (m: { Entry: new (service: string, account: string) => KeyringEntry }) => new m.Entry(service, options.account),
      (err: unknown) => {
        throw unavailable(err);
      },
    );
    return entry;
  }

  async function use<T>(fn: (e: KeyringEntry) => T): Promise<T> {
    const e = await getEntry();
    try {
      return fn(e);
    } catch (err) {
      throw unavailable(err);
    }
  }

  return {
    load: () =>
      use((e) => {
        const text = e.getPassword();
        if (text === null || text === undefined) {
          return undefined;
        }
        return (JSON.parse(text) as { token: StoredToken }).token;
      }),
    save: (token) =>
      use((e) => {
        if (token === undefined) {
          e.deletePassword();
        } else {
          e.setPassword(JSON.stringify({ version: 1, token }));
        }
      }),
  };
}

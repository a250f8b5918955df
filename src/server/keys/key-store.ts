import { readFileIfExists, writeFileAtomic } from "../../lib/atomic-file.js";
import type { JWK } from "jose";

/** SigningAlgorithm lists the JWS algorithms tokenkit signs with. */
export type SigningAlgorithm = "EdDSA" | "ES256" | "RS256";

/** SIGNING_ALGORITHMS is the verification allow-list: nothing else is accepted. */
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ["EdDSA", "ES256", "RS256"];

/**
 * StoredKey is one signing key as persisted: a private and a public JWK plus
 * its schedule. Times are Unix seconds.
 */
export interface StoredKey {
  /** kid is the key id placed in every JWS header it signs. */
  kid: string;
  /** alg is the key's only algorithm; verification never accepts another. */
  alg: SigningAlgorithm;
  /** createdAt is when the key was generated (and published in the JWKS). */
  createdAt: number;
  /** activatesAt is when the key starts signing; until then it only verifies. */
  activatesAt: number;
  /** expiresAt is when the key stops verifying, once a newer key replaced it. */
  expiresAt?: number;
  /** privateJwk is the private key. */
  privateJwk: JWK;
  /** publicJwk is the public key, as published. */
  publicJwk: JWK;
}

/**
 * KeyStore persists the key ring so that restarts (and other instances) keep
 * verifying old tokens. `save` replaces the whole set atomically.
 */
export interface KeyStore {
  /** load returns every stored key (possibly none). */
  load(): Promise<StoredKey[]>;
  /** save atomically replaces the stored keys. */
  save(keys: StoredKey[]): Promise<void>;
  /**
   * update replaces the stored keys with `fn(current)` as one atomic
   * read-modify-write, and returns what it stored: no other `save` or
   * `update` — in this process or, for a shared store, in another instance —
   * interleaves. Optional; the key ring uses it when present, so that
   * instances starting or rotating at the same time never drop each other's
   * keys, and falls back to `load` + `save` otherwise.
   */
  update?(fn: (current: StoredKey[]) => Promise<StoredKey[]>): Promise<StoredKey[]>;
}

/**
 * createMemoryKeyStore returns a {@link KeyStore} that lives in this process
 * only: for tests and for `--store memory`.
 */
export function createMemoryKeyStore(): KeyStore {
  let keys: StoredKey[] = [];
  return {
    load: async () => structuredClone(keys),
    save: async (next) => {
      keys = structuredClone(next);
    },
  };
}

/** FileKeyStoreOptions configures {@link createFileKeyStore}. */
export interface FileKeyStoreOptions {
  /** path is the JSON file holding the keys, e.g. `<data-dir>/keys.json`. Required. */
  path: string;
}

/**
 * createFileKeyStore returns a {@link KeyStore} backed by one JSON file with
 * mode 0600 in a 0700 directory. Writes go to a temporary file that is
 * fsync'd and renamed over the target, so a crash never leaves a truncated
 * key file.
 */
export function createFileKeyStore(options: FileKeyStoreOptions): KeyStore {
  if (typeof options?.path !== "string" || options.path === "") {
    throw new TypeError('createFileKeyStore: option "path" must be a non-empty string');
  }
  const path = options.path;
  return {
    async load() {
      const text = await readFileIfExists(path);
      if (text === undefined) {
        return [];
      }
      const parsed = JSON.parse(text) as { version?: number; keys?: StoredKey[] };
      if (parsed.version !== 1 || !Array.isArray(parsed.keys)) {
        throw new Error(`key file ${path} has an unknown format`);
      }
      return parsed.keys;
    },
    save: (keys) => writeFileAtomic(path, JSON.stringify({ version: 1, keys }, null, 2)),
  };
}

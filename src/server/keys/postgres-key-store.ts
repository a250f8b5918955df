import type { JWK } from "jose";
import type { PoolClient } from "pg";
import type { PostgresStoreOptions } from "../store/postgres-pool.js";
import { openPostgresStore } from "../store/postgres-store-handle.js";
import { parseKeyEncryptionKey, type KeyEncryptionKey } from "./key-encryption.js";
import { SIGNING_ALGORITHMS, type KeyStore, type SigningAlgorithm, type StoredKey } from "./key-store.js";

/** PostgresKeyStoreOptions configures {@link createPostgresKeyStore}. */
export interface PostgresKeyStoreOptions extends PostgresStoreOptions {
  /**
   * keyEncryptionKey seals every private key before it reaches the database
   * (AES-256-GCM, bound to its kid): 32 bytes, or their base64/hex text
   * (see {@link parseKeyEncryptionKey}). Every instance needs the same one.
   * Required. Security: keep it apart from the database and its backups —
   * together they can sign tokens.
   */
  keyEncryptionKey: string | Uint8Array | KeyEncryptionKey;
}

interface KeyRow {
  kid: string;
  alg: string;
  created_at: string;
  activates_at: string;
  expires_at: string | null;
  public_jwk: JWK;
  private_jwk_sealed: Buffer;
  kek_id: string;
}

/** PostgresKeyStore is a {@link KeyStore} in Postgres; `close` ends its pool when it owns one. */
export interface PostgresKeyStore extends KeyStore {
  /** close ends the store's own pool (a shared `pool` is left open). */
  close(): Promise<void>;
}

/** The first key of the advisory lock that serializes key-set writes ("tkey"). */
const LOCK_CLASS = 0x746b6579;

const SELECT_KEYS = `SELECT * FROM tokenkit_signing_keys ORDER BY activates_at, created_at, kid`;

/**
 * createPostgresKeyStore returns a {@link KeyStore} in the Postgres database
 * the token store uses, so every instance signs and verifies with the same
 * keys and serves the same JWKS. Private JWKs are stored only sealed with
 * the key-encryption key (AES-256-GCM with the kid as associated data; a row
 * copied under another kid does not open); public JWKs are stored in clear.
 * `save` and `update` run in one transaction under an advisory lock, so
 * instances starting or rotating at once never lose each other's keys.
 *
 * Loading fails with an error naming the kid when a key was sealed with
 * another key-encryption key. Applies the schema migrations first.
 */
export async function createPostgresKeyStore(options: PostgresKeyStoreOptions): Promise<PostgresKeyStore> {
  const kekOption = options?.keyEncryptionKey;
  if (kekOption === undefined) {
    throw new TypeError('createPostgresKeyStore: option "keyEncryptionKey" is required (private signing keys are never stored in clear)');
  }
  const kek: KeyEncryptionKey =
    typeof kekOption === "object" && !(kekOption instanceof Uint8Array)
      ? kekOption
      : parseKeyEncryptionKey(kekOption, 'createPostgresKeyStore: option "keyEncryptionKey"');
  const store = await openPostgresStore(options, "createPostgresKeyStore", "Postgres key store");
  const { pool } = store;

  function toStored(r: KeyRow): StoredKey {
    if (!SIGNING_ALGORITHMS.includes(r.alg as SigningAlgorithm)) {
      throw new Error(`Postgres key store: signing key ${r.kid} has an unknown algorithm`);
    }
    let privateJwk: JWK;
    try {
      privateJwk = JSON.parse(Buffer.from(kek.open(r.private_jwk_sealed, r.kid)).toString("utf8")) as JWK;
    } catch (err) {
      const hint = r.kek_id !== kek.id ? " it was sealed with a different key-encryption key" : " it does not open (altered, or another key-encryption key)";
      throw new Error(`Postgres key store: cannot decrypt signing key ${r.kid}:${hint}; every instance needs the same TOKENKIT_KEY_ENCRYPTION_KEY`, { cause: err });
    }
    const k: StoredKey = {
      kid: r.kid,
      alg: r.alg as SigningAlgorithm,
      createdAt: Number(r.created_at),
      activatesAt: Number(r.activates_at),
      privateJwk,
      publicJwk: r.public_jwk,
    };
    if (r.expires_at !== null) {
      k.expiresAt = Number(r.expires_at);
    }
    return k;
  }

  async function write(client: PoolClient, keys: StoredKey[]): Promise<void> {
    await client.query("DELETE FROM tokenkit_signing_keys WHERE NOT (kid = ANY($1::text[]))", [keys.map((k) => k.kid)]);
    for (const k of keys) {
      const sealed = kek.seal(Buffer.from(JSON.stringify(k.privateJwk)), k.kid);
      await client.query(
        `INSERT INTO tokenkit_signing_keys (kid, alg, created_at, activates_at, expires_at, public_jwk, private_jwk_sealed, kek_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (kid) DO UPDATE SET activates_at = excluded.activates_at, expires_at = excluded.expires_at`,
        [k.kid, k.alg, k.createdAt, k.activatesAt, k.expiresAt ?? null, JSON.stringify(k.publicJwk), sealed, kek.id],
      );
    }
  }

  /** Runs `fn` in one transaction holding the key-set lock. */
  async function locked<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let failed = false;
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1, 0)", [LOCK_CLASS]);
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      failed = true;
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release(failed);
    }
  }

  return {
    async load() {
      const { rows } = await pool.query<KeyRow>(SELECT_KEYS);
      return rows.map(toStored);
    },
    save: (keys) => locked((client) => write(client, keys)),
    update: (fn) =>
      locked(async (client) => {
        const { rows } = await client.query<KeyRow>(SELECT_KEYS);
        const next = await fn(rows.map(toStored));
        await write(client, next);
        return next;
      }),
    close: () => store.close(),
  };
}

import { join } from "node:path";
import { createKeyRing, type KeyRing } from "../keys/key-ring.js";
import { startKeyReloader } from "../keys/key-reloader.js";
import { createFileKeyStore, createMemoryKeyStore, type KeyStore } from "../keys/key-store.js";
import { createPostgresKeyStore } from "../keys/postgres-key-store.js";
import type { PostgresPool } from "../store/postgres-pool.js";
import type { CleanupStack } from "./cleanup-stack.js";
import { KEYS_FILE_NAME, type ServerConfig } from "./server-config.js";

async function keyStoreFor(config: ServerConfig, postgresPool: PostgresPool | undefined): Promise<KeyStore> {
  if (config.keyStore !== undefined) {
    return config.keyStore;
  }
  if (postgresPool !== undefined) {
    return createPostgresKeyStore({ pool: postgresPool, keyEncryptionKey: config.keyEncryptionKey! });
  }
  return config.keysInDataDir ? createFileKeyStore({ path: join(config.dataDir, KEYS_FILE_NAME) }) : createMemoryKeyStore();
}

/**
 * openServerKeyRing loads (or, on first start, generates) the signing keys
 * from the key store `config` names: the option, the database with Postgres,
 * `<dataDir>/keys.json`, or memory with `store: "memory"`. With a reload
 * interval (always with Postgres) the ring re-reads its store periodically,
 * so instances sharing a store see each other's rotations; the reloader's
 * stop is pushed onto `cleanups`.
 */
export async function openServerKeyRing(config: ServerConfig, postgresPool: PostgresPool | undefined, cleanups: CleanupStack): Promise<KeyRing> {
  const { clock, logger } = config;
  const keyRing = await createKeyRing({ store: await keyStoreFor(config, postgresPool), algorithm: config.algorithm, clock });
  if (config.keyReloadIntervalSeconds !== undefined) {
    const reloader = startKeyReloader({ keyRing, intervalMs: config.keyReloadIntervalSeconds * 1000, clock, logger });
    cleanups.push(() => reloader.stop());
  }
  return keyRing;
}

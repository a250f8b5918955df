import { Code, ConnectError } from "@connectrpc/connect";
import { postgresCall } from "./postgres-errors.js";
import { migratePostgres } from "./postgres-migrations.js";
import { resolvePostgresPool, type PostgresPool, type PostgresStoreOptions } from "./postgres-pool.js";

/** PostgresStoreHandle is what every Postgres store is built on: its pool, guarded calls, and close. */
export interface PostgresStoreHandle {
  /** pool is the store's pool (shared or its own). */
  readonly pool: PostgresPool;
  /**
   * call runs one store operation, mapping driver failures to `Unavailable`
   * or `Aborted` (see `postgresCall`); after `close()` it rejects with `Unavailable`.
   */
  call<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** close stops further calls and ends the pool when the store owns it. Idempotent. */
  close(): Promise<void>;
}

/**
 * openPostgresStore resolves a Postgres store's pool from its options
 * (`who` names the factory in `TypeError`s), brings the schema to the latest
 * migration (ending a pool of its own if that fails), and returns the
 * {@link PostgresStoreHandle}; `what` names the store in errors
 * ("Postgres token store").
 */
export async function openPostgresStore(options: PostgresStoreOptions, who: string, what: string): Promise<PostgresStoreHandle> {
  const { pool, owned } = resolvePostgresPool(options, who);
  try {
    await migratePostgres(pool);
  } catch (err) {
    if (owned) {
      await pool.end().catch(() => {});
    }
    throw err;
  }
  let closed = false;
  return {
    pool,
    call(operation, fn) {
      if (closed) {
        return Promise.reject(new ConnectError(`${what} is closed`, Code.Unavailable));
      }
      return postgresCall(what, operation, fn);
    },
    async close() {
      if (closed) {
        return;
      }
      closed = true;
      if (owned) {
        await pool.end();
      }
    },
  };
}

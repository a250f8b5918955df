import { join } from "node:path";
import { createMemoryFamilyStore } from "../store/memory-family-store.js";
import { createPostgresFamilyStore } from "../store/postgres-family-store.js";
import type { PostgresPool } from "../store/postgres-pool.js";
import { createSqliteFamilyStore } from "../store/sqlite-family-store.js";
import type { FamilyStore } from "../store/family-store.js";

/** FamilyStoreKind names the stores `tokenkit serve --store` can open. */
export type FamilyStoreKind = "sqlite" | "memory" | "postgres";

/** FAMILY_STORE_KINDS lists every {@link FamilyStoreKind}. */
export const FAMILY_STORE_KINDS: readonly FamilyStoreKind[] = ["sqlite", "memory", "postgres"];

/** SQLITE_FILE_NAME is the SQLite database file inside the data directory. */
export const SQLITE_FILE_NAME = "tokenkit.db";

/** FamilyStoreSelection says which store to open and where. */
export interface FamilyStoreSelection {
  /** kind of store. Required. */
  kind: FamilyStoreKind;
  /** dataDir holds the SQLite file `tokenkit.db`. Required for `sqlite`. */
  dataDir?: string;
  /** databaseUrl is the Postgres connection URL. Required for `postgres` unless `postgresPool` is given. */
  databaseUrl?: string;
  /** postgresPool is a pool shared with the server's other Postgres stores (see `createPostgresPool`); the store leaves it open. @default none — a pool of its own from `databaseUrl` */
  postgresPool?: PostgresPool;
}

/** StoreMakers builds one kind of store (token families, events) for {@link openSelectedStore}. */
export interface StoreMakers<S> {
  /** fileName is the SQLite file inside the data directory. */
  fileName: string;
  memory(): S;
  sqlite(path: string): S;
  postgres(source: { pool: PostgresPool } | { connectionString: string }): Promise<S>;
}

/**
 * openSelectedStore opens the store `selection` names with `makers`,
 * checking what each kind needs; `who` names the caller in the
 * `TypeError`s for mistakes.
 */
export async function openSelectedStore<S>(who: string, selection: FamilyStoreSelection, makers: StoreMakers<S>): Promise<S> {
  switch (selection?.kind) {
    case "memory":
      return makers.memory();
    case "sqlite":
      if (typeof selection.dataDir !== "string" || selection.dataDir === "") {
        throw new TypeError(`${who}: option "dataDir" is required for the sqlite store`);
      }
      return makers.sqlite(join(selection.dataDir, makers.fileName));
    case "postgres":
      if (selection.postgresPool !== undefined) {
        return makers.postgres({ pool: selection.postgresPool });
      }
      if (typeof selection.databaseUrl !== "string" || selection.databaseUrl === "") {
        throw new TypeError(`${who}: option "databaseUrl" is required for the postgres store (postgres://user:password@host:5432/db)`);
      }
      return makers.postgres({ connectionString: selection.databaseUrl });
    default:
      throw new TypeError(`${who}: option "store" must be one of ${FAMILY_STORE_KINDS.join(", ")}`);
  }
}

/**
 * openFamilyStore opens the token-family store a server was configured
 * with: `sqlite` at `<dataDir>/tokenkit.db` (state survives restarts),
 * `memory` (lost on exit; for tests and demos) or `postgres` (shared by
 * several instances). Mistakes in the selection throw `TypeError` naming
 * the option.
 */
export async function openFamilyStore(selection: FamilyStoreSelection): Promise<FamilyStore> {
  return openSelectedStore("openFamilyStore", selection, {
    fileName: SQLITE_FILE_NAME,
    memory: createMemoryFamilyStore,
    sqlite: (path) => createSqliteFamilyStore({ path }),
    postgres: (source) => createPostgresFamilyStore(source),
  });
}

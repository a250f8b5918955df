import { join } from "node:path";
import { createMemoryFamilyStore } from "../store/memory-family-store.js";
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
  /** databaseUrl is the Postgres connection URL. Required for `postgres`. */
  databaseUrl?: string;
}

/**
 * openFamilyStore opens the token-family store a server was configured
 * with: `sqlite` at `<dataDir>/tokenkit.db` (state survives restarts),
 * `memory` (lost on exit; for tests and demos) or `postgres` (shared by
 * several instances). Mistakes in the selection throw `TypeError` naming
 * the option.
 */
export async function openFamilyStore(selection: FamilyStoreSelection): Promise<FamilyStore> {
  switch (selection?.kind) {
    case "memory":
      return createMemoryFamilyStore();
    case "sqlite":
      if (typeof selection.dataDir !== "string" || selection.dataDir === "") {
        throw new TypeError('openFamilyStore: option "dataDir" is required for the sqlite store');
      }
      return createSqliteFamilyStore({ path: join(selection.dataDir, SQLITE_FILE_NAME) });
    case "postgres":
      throw new TypeError('openFamilyStore: option "store" "postgres" is not available yet in this version; use "sqlite" or "memory"');
    default:
      throw new TypeError(`openFamilyStore: option "store" must be one of ${FAMILY_STORE_KINDS.join(", ")}`);
  }
}

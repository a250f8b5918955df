import { join } from "node:path";
import type { EventStore } from "../store/event-store.js";
import { createMemoryEventStore } from "../store/memory-event-store.js";
import { createPostgresEventStore } from "../store/postgres-event-store.js";
import { createSqliteEventStore } from "../store/sqlite-event-store.js";
import type { FamilyStoreSelection } from "./family-store-selection.js";

/** EVENTS_FILE_NAME is the SQLite event database inside the data directory. */
export const EVENTS_FILE_NAME = "events.db";

/**
 * openEventStore opens the event store that goes with a server's store
 * selection: `sqlite` at `<dataDir>/events.db` (its own file, so event
 * ingestion never queues behind token rotations), `memory`, or `postgres`.
 * Mistakes in the selection throw `TypeError` naming the option.
 */
export async function openEventStore(selection: FamilyStoreSelection): Promise<EventStore> {
  switch (selection?.kind) {
    case "memory":
      return createMemoryEventStore();
    case "sqlite":
      if (typeof selection.dataDir !== "string" || selection.dataDir === "") {
        throw new TypeError('openEventStore: option "dataDir" is required for the sqlite store');
      }
      return createSqliteEventStore({ path: join(selection.dataDir, EVENTS_FILE_NAME) });
    case "postgres":
      if (selection.postgresPool !== undefined) {
        return createPostgresEventStore({ pool: selection.postgresPool });
      }
      if (typeof selection.databaseUrl !== "string" || selection.databaseUrl === "") {
        throw new TypeError('openEventStore: option "databaseUrl" is required for the postgres store');
      }
      return createPostgresEventStore({ connectionString: selection.databaseUrl });
    default:
      throw new TypeError('openEventStore: option "store" must be one of sqlite, memory, postgres');
  }
}

import type { EventStore } from "../store/event-store.js";
import { createMemoryEventStore } from "../store/memory-event-store.js";
import { createPostgresEventStore } from "../store/postgres-event-store.js";
import { createSqliteEventStore } from "../store/sqlite-event-store.js";
import { openSelectedStore, type FamilyStoreSelection } from "./family-store-selection.js";

/** EVENTS_FILE_NAME is the SQLite event database inside the data directory. */
export const EVENTS_FILE_NAME = "events.db";

/**
 * openEventStore opens the event store that goes with a server's store
 * selection: `sqlite` at `<dataDir>/events.db` (its own file, so event
 * ingestion never queues behind token rotations), `memory`, or `postgres`.
 * Mistakes in the selection throw `TypeError` naming the option.
 */
export async function openEventStore(selection: FamilyStoreSelection): Promise<EventStore> {
  return openSelectedStore("openEventStore", selection, {
    fileName: EVENTS_FILE_NAME,
    memory: createMemoryEventStore,
    sqlite: (path) => createSqliteEventStore({ path }),
    postgres: (source) => createPostgresEventStore(source),
  });
}

import { createMemoryEventStore } from "../store/memory-event-store.js";
import type { EventStore } from "../store/event-store.js";
import type { FamilyStore } from "../store/family-store.js";
import { createPostgresPool, type PostgresPool } from "../store/postgres-pool.js";
import type { CleanupStack } from "./cleanup-stack.js";
import { openEventStore } from "./event-store-selection.js";
import { openFamilyStore } from "./family-store-selection.js";
import type { ServerConfig } from "./server-config.js";

/** ServerStores are the stores one server runs on. */
export interface ServerStores {
  /** store keeps the token families. */
  store: FamilyStore;
  /** eventStore keeps events and heartbeats (memory when the session services are off). */
  eventStore: EventStore;
  /** postgresPool is the one pool of a `store: "postgres"` server, shared by all its stores. */
  postgresPool: PostgresPool | undefined;
}

/**
 * openServerStores opens the stores `config` names — the Postgres pool first,
 * then the family store and the event store — and pushes their closing onto
 * `cleanups`, so the pool ends after every store that borrows it. Stores the
 * caller built are used as they are and left open.
 */
export async function openServerStores(config: ServerConfig, cleanups: CleanupStack): Promise<ServerStores> {
  const { dataDir, databaseUrl } = config;
  let postgresPool: PostgresPool | undefined;
  if (config.store === "postgres") {
    const pool = createPostgresPool({ ...config.postgres, connectionString: databaseUrl!, logger: config.logger });
    postgresPool = pool;
    cleanups.push(() => pool.end());
  }
  let store: FamilyStore;
  if (typeof config.store === "string") {
    const opened = await openFamilyStore({ kind: config.store, dataDir, databaseUrl, postgresPool });
    cleanups.push(() => opened.close());
    store = opened;
  } else {
    store = config.store;
  }
  let eventStore = config.eventStore;
  if (eventStore === undefined && config.sessionServices) {
    const opened = await openEventStore({ kind: typeof config.store === "string" ? config.store : "memory", dataDir, databaseUrl, postgresPool });
    cleanups.push(() => opened.close());
    eventStore = opened;
  }
  return { store, eventStore: eventStore ?? createMemoryEventStore(), postgresPool };
}

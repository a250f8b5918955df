import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createSqliteEventStore } from "../../src/server/store/sqlite-event-store.js";
import { connectSqlite } from "../../src/server/store/sqlite-driver.js";
import { SQLITE_EVENT_MIGRATIONS } from "../../src/server/store/sqlite-migrations.js";
import { describeEventStoreContract, ev } from "./event-store-contract.js";

async function tempDb(): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tokenkit-events-"));
  return { dir, path: join(dir, "data", "events.db") };
}

describeEventStoreContract("sqlite", async () => {
  const { dir, path } = await tempDb();
  const store = createSqliteEventStore({ path });
  return {
    store,
    reopen: async () => createSqliteEventStore({ path }),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("SQLite event store specifics", () => {
  it("lives in a 0600 file, WAL mode, at the latest schema version; refuses a newer schema", async () => {
    const { dir, path } = await tempDb();
    try {
      const s = createSqliteEventStore({ path });
      await s.append("alice", [ev("a")], 1);
      await s.close();
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      const db = connectSqlite(path);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_EVENT_MIGRATIONS.length);
      db.pragma(`user_version = ${SQLITE_EVENT_MIGRATIONS.length + 1}`);
      db.close();
      expect(() => createSqliteEventStore({ path })).toThrow(/SQLite event store .* newer than this tokenkit knows/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects bad options by name", () => {
    expect(() => createSqliteEventStore({ path: "" })).toThrow(/option "path"/);
    expect(() => createSqliteEventStore({ path: "/tmp/x.db", busyTimeoutMs: -1 })).toThrow(/option "busyTimeoutMs"/);
  });
});

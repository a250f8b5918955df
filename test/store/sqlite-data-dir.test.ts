import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { connectSqlite, isSqliteKeyConflict, nodeSqlite } from "../../src/server/store/sqlite-driver.js";
import { createSqliteEventStore } from "../../src/server/store/sqlite-event-store.js";
import { createSqliteFamilyStore } from "../../src/server/store/sqlite-family-store.js";

// fixtures/data-dir-0.1 holds the SQLite files of a tokenkit 0.1 data dir written by better-sqlite3 on
// Node 20 and copied while open (main files + WAL, as a killed server leaves them); see write-data-dir.mjs.
const FIXTURE = fileURLToPath(new URL("./fixtures/data-dir-0.1/", import.meta.url));
const T0 = 1_800_000_000;
const dirs: string[] = [];

function copyOfFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-datadir-"));
  dirs.push(dir);
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("SQLite driver", () => {
  it("uses node:sqlite where this Node has it, else better-sqlite3", () => {
    const db = connectSqlite(":memory:");
    try {
      expect(db.driver).toBe(nodeSqlite() === undefined ? "better-sqlite3" : "node:sqlite");
      expect(db.pragma("user_version", { simple: true })).toBe(0);
    } finally {
      db.close();
    }
    expect(db.open).toBe(false);
  });

  it("plucks, rolls back a throwing transaction, and recognises a key conflict", () => {
    const db = connectSqlite(":memory:");
    try {
      db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB) STRICT");
      const insert = db.prepare("INSERT INTO t (k, v) VALUES (@k, @v)");
      const count = db.prepare("SELECT count(*) FROM t").pluck();
      const tx = db.transaction((k: string) => {
        insert.run({ k, v: new Uint8Array([1]) });
        throw new Error("abort");
      });
      expect(() => tx.immediate("a")).toThrow("abort");
      expect(count.get()).toBe(0);
      insert.run({ k: "b", v: new Uint8Array([7, 8]) });
      expect(new Uint8Array(db.prepare("SELECT v FROM t WHERE k = ?").pluck().get("b") as Uint8Array)).toEqual(new Uint8Array([7, 8]));
      let conflict: unknown;
      try {
        insert.run({ k: "b", v: null });
      } catch (err) {
        conflict = err;
      }
      expect(isSqliteKeyConflict(conflict)).toBe(true);
      expect(isSqliteKeyConflict(new Error("disk I/O error"))).toBe(false);
    } finally {
      db.close();
    }
  });
});

describe("a data dir written by tokenkit 0.1 (better-sqlite3, WAL not yet checkpointed)", () => {
  it("opens with this Node's driver: families, spent tokens, grace boxes and revocations intact; rotation continues", async () => {
    const dir = copyOfFixture();
    const store = createSqliteFamilyStore({ path: join(dir, "tokenkit.db") });
    try {
      expect(await store.getFamily("sid-1")).toMatchObject({ sid: "sid-1", subject: "alice", scopes: ["heartbeat:write"], metadata: { team: "infra" } });
      expect(await store.revocationsSince(0)).toEqual([{ sid: "sid-2", revokedAt: T0 + 20, expiresAt: T0 + 20 + 3600 }]);
      // The spent predecessor within grace returns the sealed successor written by the old driver.
      const grace = await store.rotate({ presentedHash: "hash-0", now: T0 + 20, graceSeconds: 30 });
      expect(grace).toEqual({ kind: "grace", box: new Uint8Array([1, 2, 3]) });
      const next = { record: { hash: "hash-2", sid: "sid-1", issuedAt: T0 + 30, expiresAt: T0 + 30 + 86_400 }, box: new Uint8Array([4]) };
      expect(await store.rotate({ presentedHash: "hash-1", now: T0 + 30, graceSeconds: 30, successor: next })).toEqual({ kind: "rotated", generation: 2 });
    } finally {
      await store.close();
    }
  });

  it("keeps the event log: sequences, payload bytes, and the next append's sequence", async () => {
    const dir = copyOfFixture();
    const store = createSqliteEventStore({ path: join(dir, "events.db") });
    try {
      const events = await store.list({ subject: "alice", afterSequence: 0, limit: 10 });
      expect(events.map((e) => [e.sequence, e.id, Array.from(e.payload)])).toEqual([
        [1, "e1", Array.from(new TextEncoder().encode("one"))],
        [2, "e2", [0, 255]],
      ]);
      expect(await store.append("alice", [{ id: "e3", type: "t", payload: new Uint8Array([9]) }], T0 + 1)).toMatchObject({ lastSequence: 3 });
    } finally {
      await store.close();
    }
  });
});

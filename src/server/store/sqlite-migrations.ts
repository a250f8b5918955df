import type { SqliteDatabase } from "./sqlite-driver.js";

/**
 * SQLITE_MIGRATIONS is the ordered schema history of the SQLite token store
 * (`tokenkit.db`); the database's `PRAGMA user_version` is the number
 * applied. Append only: never edit a migration that has shipped.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: token families and refresh tokens (hashes only).
  `
  CREATE TABLE families (
    sid TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    audiences TEXT NOT NULL,
    metadata TEXT NOT NULL,
    actor TEXT,
    access_ttl INTEGER NOT NULL,
    refresh_ttl INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    absolute_expires_at INTEGER,
    parent_sid TEXT REFERENCES families(sid),
    revoked_at INTEGER,
    revoke_reason TEXT
  ) STRICT;
  CREATE INDEX families_parent ON families(parent_sid) WHERE parent_sid IS NOT NULL;
  CREATE INDEX families_revoked ON families(revoked_at) WHERE revoked_at IS NOT NULL;
  CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    sid TEXT NOT NULL REFERENCES families(sid),
    generation INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at INTEGER,
    successor_hash TEXT,
    successor_box BLOB
  ) STRICT;
  CREATE INDEX refresh_tokens_sid ON refresh_tokens(sid);
  CREATE INDEX refresh_tokens_expires ON refresh_tokens(expires_at);
  `,
  // 2: the janitor finds sealed successor pairs to drop without scanning every refresh token.
  `
  CREATE INDEX refresh_tokens_boxes ON refresh_tokens(spent_at) WHERE successor_box IS NOT NULL;
  `,
];

/**
 * SQLITE_EVENT_MIGRATIONS is the ordered schema history of the SQLite event
 * store (`events.db`, a file of its own so event ingestion never waits for a
 * token rotation's write lock). Append only.
 */
export const SQLITE_EVENT_MIGRATIONS: readonly string[] = [
  // 1: events with per-subject sequences, a counter per subject, last heartbeats.
  `
  CREATE TABLE subjects (
    subject TEXT PRIMARY KEY,
    last_sequence INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE events (
    subject TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (subject, sequence)
  ) STRICT, WITHOUT ROWID;
  CREATE UNIQUE INDEX events_subject_id ON events(subject, id);
  CREATE TABLE heartbeats (
    sid TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    attributes TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (sid, instance_id)
  ) STRICT, WITHOUT ROWID;
  `,
];

/**
 * migrateSqlite brings `db` to the latest of `migrations`, one transaction
 * per migration, and refuses a database written by a newer tokenkit.
 * `what` names the store in that error ("SQLite token store").
 */
export function migrateSqlite(db: SqliteDatabase, path: string, migrations: readonly string[] = SQLITE_MIGRATIONS, what = "SQLite token store"): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(
      `${what} ${path} has schema version ${current}, newer than this tokenkit knows (${migrations.length}); upgrade tokenkit`,
    );
  }
  for (let v = current; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

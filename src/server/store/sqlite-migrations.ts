import type Database from "better-sqlite3";

/**
 * SQLITE_MIGRATIONS is the ordered schema history of the SQLite store; the
 * database's `PRAGMA user_version` is the number applied. Append only: never
 * edit a migration that has shipped.
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
];

/**
 * migrateSqlite brings `db` to the latest schema, one transaction per
 * migration, and refuses a database written by a newer tokenkit.
 */
export function migrateSqlite(db: Database.Database, path: string): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > SQLITE_MIGRATIONS.length) {
    throw new Error(
      `SQLite token store ${path} has schema version ${current}, newer than this tokenkit knows (${SQLITE_MIGRATIONS.length}); upgrade tokenkit`,
    );
  }
  for (let v = current; v < SQLITE_MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

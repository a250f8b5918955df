import { Code, ConnectError } from "@connectrpc/connect";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { connectSqlite, isSqliteKeyConflict, type SqliteDatabase } from "./sqlite-driver.js";
import { migrateSqlite } from "./sqlite-migrations.js";
import { storeUnavailable } from "./store-errors.js";

/** SqliteDatabaseOptions configures {@link openSqliteDatabase}. */
export interface SqliteDatabaseOptions {
  /** path is the database file (created with mode 0600, its directory 0700), or `:memory:`. */
  path: string;
  /** busyTimeoutMs is how long a write waits for another connection's lock. */
  busyTimeoutMs: number;
  /** migrations is the store's schema history (see `sqlite-migrations.ts`). */
  migrations: readonly string[];
  /** what names the store in errors: "SQLite token store". */
  what: string;
}

/**
 * openSqliteDatabase opens one tokenkit SQLite file the way every tokenkit
 * SQLite store wants it: private file mode, WAL journal with
 * `synchronous = NORMAL` (a crash or kill loses at most the last commits,
 * never consistency), foreign keys on, a busy timeout, and the schema
 * migrated to the latest version. The driver is `node:sqlite` where the
 * running Node has it, else the optional peer dependency `better-sqlite3`
 * (see `sqlite-driver.ts`); the file format is the same either way.
 */
export function openSqliteDatabase(options: SqliteDatabaseOptions): SqliteDatabase {
  const { path } = options;
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, "a", 0o600));
  }
  const db = connectSqlite(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    migrateSqlite(db, path, options.migrations, options.what);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * checkBusyTimeout validates the `busyTimeoutMs` option of a SQLite store
 * factory and returns it (default 5000 ms).
 */
export function checkBusyTimeout(factory: string, value: unknown): number {
  const ms = value ?? 5000;
  if (typeof ms !== "number" || !Number.isSafeInteger(ms) || ms < 0) {
    throw new TypeError(`${factory}: option "busyTimeoutMs" must be a non-negative integer`);
  }
  return ms;
}

/**
 * sqliteCall runs one synchronous store operation as a promise, mapping
 * driver failures: a key conflict (a race another writer won) is `Aborted`,
 * anything else (busy, I/O, closed handle) `Unavailable`. `what` names the
 * store ("SQLite token store"); messages never carry data.
 */
export function sqliteCall<T>(what: string, operation: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(sqliteError(what, operation, err));
  }
}

/** sqliteError maps one driver failure as {@link sqliteCall} does. */
export function sqliteError(what: string, operation: string, err: unknown): ConnectError {
  if (isSqliteKeyConflict(err)) {
    return new ConnectError(`${what}: duplicate key during ${operation}; retry`, Code.Aborted, undefined, undefined, err);
  }
  return storeUnavailable(what, operation, err);
}

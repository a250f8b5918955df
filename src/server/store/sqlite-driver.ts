import { createRequire } from "node:module";

/** SqliteStatement is the part of a prepared statement the SQLite stores use. */
export interface SqliteStatement {
  /** run executes the statement and reports the rows it changed. */
  run(...params: unknown[]): { changes: number };
  /** get returns the first row (or its first column after `pluck()`), undefined when there is none. */
  get(...params: unknown[]): unknown;
  /** all returns every row (or every first column after `pluck()`). */
  all(...params: unknown[]): unknown[];
  /** iterate steps through the rows one at a time, so a caller can stop early without reading the rest. */
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /** pluck makes `get`/`all` return the first column instead of row objects; returns the statement. */
  pluck(): SqliteStatement;
}

/** SqliteTransaction runs its function in a deferred transaction, or `immediate(...)` in one that takes the write lock at once. */
export interface SqliteTransaction<A extends unknown[], R> {
  (...args: A): R;
  /** immediate runs the function in `BEGIN IMMEDIATE … COMMIT`, rolled back if it throws. */
  immediate(...args: A): R;
}

/**
 * SqliteDatabase is the connection the SQLite stores use: the subset of
 * better-sqlite3's `Database` that `node:sqlite` can provide as well, so one
 * store implementation runs on either driver.
 */
export interface SqliteDatabase {
  /** driver names the module behind this connection. */
  readonly driver: SqliteDriverName;
  /** open is false once `close()` ran. */
  readonly open: boolean;
  /** prepare compiles one statement. */
  prepare(sql: string): SqliteStatement;
  /** exec runs one or more statements without results. */
  exec(sql: string): void;
  /** pragma runs `PRAGMA <source>`; with `simple` it returns the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** transaction wraps `fn` so each call runs in one transaction. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): SqliteTransaction<A, R>;
  /** close closes the connection. */
  close(): void;
}

/** SqliteDriverName is the SQLite module behind a {@link SqliteDatabase}. */
export type SqliteDriverName = "node:sqlite" | "better-sqlite3";

/** SqliteOpenOptions are the options both drivers take when opening a file. */
export interface SqliteOpenOptions {
  /** readonly opens the file for reading only. @default false */
  readonly?: boolean;
}

interface NodeSqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
}
interface NodeSqliteDatabase {
  prepare(sql: string): NodeSqliteStatement;
  exec(sql: string): void;
  close(): void;
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { readOnly?: boolean }) => NodeSqliteDatabase;
}
type BetterSqliteConstructor = new (path: string, options?: { readonly?: boolean }) => Omit<SqliteDatabase, "driver">;

/**
 * nodeSqlite returns Node's built-in `node:sqlite` when the running Node has
 * it without a flag (22.13+, 23.4+), else undefined. It is loaded through
 * `process.getBuiltinModule` so that older Nodes, where the module does not
 * exist, never fail to load this file.
 */
export function nodeSqlite(): NodeSqliteModule | undefined {
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  try {
    const mod = getBuiltin?.call(process, "node:sqlite") as NodeSqliteModule | undefined;
    return typeof mod?.DatabaseSync === "function" ? mod : undefined;
  } catch {
    return undefined;
  }
}

/**
 * SQLITE_DRIVER_HINT is the message of the error thrown when neither driver
 * is available: it names the package to install and the Node that needs none.
 */
export const SQLITE_DRIVER_HINT =
  "the SQLite store (tokenkit serve --store sqlite, the default) needs node:sqlite (Node 22.13 or later) or the better-sqlite3 package: " +
  "run `npm install better-sqlite3`, or use --store memory or --store postgres";

let betterSqlite: BetterSqliteConstructor | undefined;

function loadBetterSqlite(): BetterSqliteConstructor {
  if (betterSqlite === undefined) {
    try {
      betterSqlite = createRequire(import.meta.url)("better-sqlite3") as BetterSqliteConstructor;
    } catch (err) {
      throw new Error(`${SQLITE_DRIVER_HINT} (Node ${process.version} has no node:sqlite and better-sqlite3 did not load: ${(err as Error).message.split("\n")[0]})`, {
        cause: err,
      });
    }
  }
  return betterSqlite;
}

/**
 * connectSqlite opens one SQLite file (or `:memory:`) with the driver the
 * running Node offers: the built-in `node:sqlite` where it exists, else the
 * optional peer dependency `better-sqlite3`. Both read and write the same
 * SQLite file format, so a data directory moves freely between them. Throws
 * an `Error` naming the package to install when neither is available.
 */
export function connectSqlite(path: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  const builtin = nodeSqlite();
  if (builtin !== undefined) {
    return adaptNodeSqlite(new builtin.DatabaseSync(path, { readOnly: options.readonly === true }));
  }
  const Database = loadBetterSqlite();
  const db = new Database(path, { readonly: options.readonly === true });
  return Object.assign(db, { driver: "better-sqlite3" as const }) as SqliteDatabase;
}

function firstColumn(row: unknown): unknown {
  return row === undefined ? undefined : Object.values(row as Record<string, unknown>)[0];
}

function* firstColumns(rows: IterableIterator<unknown>): IterableIterator<unknown> {
  for (const row of rows) {
    yield firstColumn(row);
  }
}

function adaptStatement(stmt: NodeSqliteStatement): SqliteStatement {
  let plucked = false;
  const adapted: SqliteStatement = {
    run: (...params) => stmt.run(...params),
    get: (...params) => (plucked ? firstColumn(stmt.get(...params)) : stmt.get(...params)),
    all: (...params) => (plucked ? stmt.all(...params).map(firstColumn) : stmt.all(...params)),
    iterate: (...params) => (plucked ? firstColumns(stmt.iterate(...params)) : stmt.iterate(...params)),
    pluck: () => {
      plucked = true;
      return adapted;
    },
  };
  return adapted;
}

/** adaptNodeSqlite gives a `node:sqlite` connection the better-sqlite3 surface the stores use. */
function adaptNodeSqlite(db: NodeSqliteDatabase): SqliteDatabase {
  let open = true;
  let depth = 0;
  const inTransaction = <A extends unknown[], R>(begin: string, fn: (...args: A) => R, args: A): R => {
    if (depth > 0) {
      return fn(...args);
    }
    db.exec(begin);
    depth++;
    try {
      const result = fn(...args);
      db.exec("COMMIT");
      return result;
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    } finally {
      depth--;
    }
  };
  return {
    driver: "node:sqlite",
    get open() {
      return open;
    },
    prepare: (sql) => adaptStatement(db.prepare(sql)),
    exec: (sql) => db.exec(sql),
    pragma: (source, options) => {
      const rows = db.prepare(`PRAGMA ${source}`).all();
      return options?.simple ? firstColumn(rows[0]) : rows;
    },
    transaction: <A extends unknown[], R>(fn: (...args: A) => R) =>
      Object.assign((...args: A) => inTransaction("BEGIN", fn, args), {
        immediate: (...args: A) => inTransaction("BEGIN IMMEDIATE", fn, args),
      }),
    close: () => {
      if (open) {
        open = false;
        db.close();
      }
    },
  };
}

/** SQLite's extended result codes for a violated key (`SQLITE_CONSTRAINT_PRIMARYKEY`, `SQLITE_CONSTRAINT_UNIQUE`). */
const KEY_CONFLICT_CODES = new Set<unknown>(["SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE", 1555, 2067]);

/**
 * isSqliteKeyConflict tells whether a driver error is a primary-key or unique
 * violation: better-sqlite3 names it in `code`, `node:sqlite` puts the
 * extended result code in `errcode`.
 */
export function isSqliteKeyConflict(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown } | null;
  return KEY_CONFLICT_CODES.has(e?.code) || KEY_CONFLICT_CODES.has(e?.errcode);
}

import { createRequire } from "node:module";
import type pg from "pg";
import type { Logger } from "../../lib/logger.js";

/** PostgresPool is the `pg` connection pool the Postgres stores share. */
export type PostgresPool = pg.Pool;

/** PostgresPoolOptions configures {@link createPostgresPool}. */
export interface PostgresPoolOptions {
  /**
   * connectionString is the libpq-style URL, `postgres://user:password@host:5432/db?sslmode=require`.
   * Required. Security: it may hold a password; tokenkit never logs it (see {@link describePostgresUrl}).
   */
  connectionString: string;
  /**
   * maxConnections caps the pool. Every instance holds up to this many
   * connections, so N instances need N × this within the server's
   * `max_connections` (100 by default).
   * @default 10 — a rotation is one short statement; ten in flight keep a
   * busy instance's event loop, not the database, the bottleneck.
   */
  maxConnections?: number;
  /**
   * statementTimeoutMs is the server-side `statement_timeout` of every
   * connection, which also bounds waiting for a row lock. A statement over it
   * fails with `Unavailable` and is rolled back.
   * @default 5000 — far above a healthy rotation (about a millisecond), well
   * below a client's patience.
   */
  statementTimeoutMs?: number;
  /**
   * connectTimeoutMs bounds opening a connection; while the database is
   * unreachable calls fail with `Unavailable` after at most this.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * idleTimeoutMs closes connections idle this long, so a pool shrinks after a burst.
   * @default 30000
   */
  idleTimeoutMs?: number;
  /**
   * schema is the Postgres schema tokenkit's tables live in (created by the
   * migrations). It must be a plain lower-case identifier.
   * @default none — the connection's default `search_path` (usually `public`)
   */
  schema?: string;
  /** applicationName is shown in `pg_stat_activity`. @default "tokenkit" */
  applicationName?: string;
  /** logger hears about connections lost while idle (the pool replaces them). @default none */
  logger?: Logger;
}

const schemas = new WeakMap<PostgresPool, string>();

let pgModule: typeof pg | undefined;

/**
 * loadPg loads the optional peer dependency `pg` on first use, so that the
 * `tokenkit/server` entry loads without it; a missing package is an `Error`
 * naming the package and the flag that needs it.
 */
function loadPg(): typeof pg {
  if (pgModule === undefined) {
    try {
      pgModule = createRequire(import.meta.url)("pg") as typeof pg;
    } catch (err) {
      throw new Error(`the Postgres store (tokenkit serve --store postgres) needs the pg package: run \`npm install pg\` (${(err as Error).message.split("\n")[0]})`, { cause: err });
    }
  }
  return pgModule;
}

/**
 * poolSchema returns the `schema` a pool from {@link createPostgresPool} was
 * created with, or undefined (the connection's default `search_path`).
 */
export function poolSchema(pool: PostgresPool): string | undefined {
  return schemas.get(pool);
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function checkPositiveInteger(name: string, v: unknown, min: number): void {
  if (v !== undefined && (typeof v !== "number" || !Number.isSafeInteger(v) || v < min)) {
    throw new TypeError(`createPostgresPool: option "${name}" must be an integer ≥ ${min}`);
  }
}

/**
 * checkPostgresPoolOptions validates {@link PostgresPoolOptions} and throws a
 * `TypeError` naming the first bad option. `who` names the caller in the message.
 */
export function checkPostgresPoolOptions(options: PostgresPoolOptions, who = "createPostgresPool"): void {
  if (typeof options?.connectionString !== "string" || !/^postgres(ql)?:\/\//.test(options.connectionString)) {
    throw new TypeError(`${who}: option "connectionString" must be a postgres:// or postgresql:// URL`);
  }
  checkPositiveInteger("maxConnections", options.maxConnections, 1);
  checkPositiveInteger("statementTimeoutMs", options.statementTimeoutMs, 1);
  checkPositiveInteger("connectTimeoutMs", options.connectTimeoutMs, 1);
  checkPositiveInteger("idleTimeoutMs", options.idleTimeoutMs, 1);
  if (options.schema !== undefined && (typeof options.schema !== "string" || !SCHEMA_NAME.test(options.schema))) {
    throw new TypeError(`${who}: option "schema" must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 characters)`);
  }
}

/**
 * describePostgresUrl names a database for messages and logs without its
 * password: `postgres://host:5432/db`.
 */
export function describePostgresUrl(connectionString: string): string {
  try {
    const u = new URL(connectionString);
    return `postgres://${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname || "/"}`;
  } catch {
    return "postgres://(unparsable URL)";
  }
}

/**
 * createPostgresPool returns the `pg.Pool` one tokenkit server shares among
 * its Postgres stores (token families, signing keys, events), configured for
 * a token server:
 *
 * - a server-side `statement_timeout` and a client-side query timeout just
 *   above it, so a hung statement or a silently dropped connection ends in
 *   `Unavailable` instead of a call that never returns;
 * - TCP keep-alive, a connect timeout, and an `error` listener so that a
 *   connection lost while idle (database restart, failover) is dropped and
 *   replaced on the next call instead of crashing the process — the pool
 *   recovers by itself once the database is back;
 * - `search_path` set to `schema` when one is given.
 *
 * Options are validated here (`TypeError` naming the option). No connection
 * is opened until the first query; call `end()` to close the pool.
 */
export function createPostgresPool(options: PostgresPoolOptions): PostgresPool {
  checkPostgresPoolOptions(options);
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
  const pool = new (loadPg().Pool)({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    statement_timeout: statementTimeoutMs,
    // Backstop for a connection that hangs without an error (network partition): the
    // pool destroys a client whose query failed, so the next call opens a fresh one.
    query_timeout: statementTimeoutMs + 2000,
    keepAlive: true,
    application_name: options.applicationName ?? "tokenkit",
    ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
  });
  if (options.schema !== undefined) {
    schemas.set(pool, options.schema);
  }
  const where = describePostgresUrl(options.connectionString);
  pool.on("error", (err) => {
    options.logger?.warn?.(`tokenkit: an idle Postgres connection to ${where} was lost; the pool opens a new one when needed`, err);
  });
  return pool;
}

/**
 * PostgresStoreOptions says where a Postgres store gets its connections:
 * either a shared `pool` (from {@link createPostgresPool}; the store never
 * ends it) or the {@link PostgresPoolOptions} of a pool of its own (ended by
 * the store's `close()`). Exactly one of `pool` and `connectionString`.
 */
export interface PostgresStoreOptions extends Partial<PostgresPoolOptions> {
  /** pool is a shared pool, e.g. one per server for all its stores. @default none — open one from `connectionString` */
  pool?: PostgresPool;
}

/**
 * resolvePostgresPool validates {@link PostgresStoreOptions} for `who` (the
 * factory's name, quoted in `TypeError`s) and returns the pool to use and
 * whether the store owns it.
 */
export function resolvePostgresPool(options: PostgresStoreOptions, who: string): { pool: PostgresPool; owned: boolean } {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${who}: options are required (a "pool" or a "connectionString")`);
  }
  if (options.pool !== undefined) {
    if (options.connectionString !== undefined) {
      throw new TypeError(`${who}: give either option "pool" or option "connectionString", not both`);
    }
    const p = options.pool as Partial<PostgresPool> | null;
    if (typeof p?.query !== "function" || typeof p.connect !== "function" || typeof p.end !== "function") {
      throw new TypeError(`${who}: option "pool" must be a pg.Pool (see createPostgresPool)`);
    }
    return { pool: options.pool, owned: false };
  }
  if (options.connectionString === undefined) {
    throw new TypeError(`${who}: option "pool" or option "connectionString" is required`);
  }
  checkPostgresPoolOptions(options as PostgresPoolOptions, who);
  return { pool: createPostgresPool(options as PostgresPoolOptions), owned: true };
}

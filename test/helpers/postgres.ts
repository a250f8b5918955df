import { randomBytes } from "node:crypto";
import pg from "pg";

/** TEST_DATABASE_URL is the PostgreSQL server the Postgres tests use (`bash .ci/run` starts one). */
export const TEST_DATABASE_URL = process.env.TOKENKIT_TEST_DATABASE_URL ?? "";

/** HAS_DATABASE is true when the Postgres tests can run. */
export const HAS_DATABASE = TEST_DATABASE_URL !== "";

/**
 * postgresTitle names a Postgres describe block; without a database the title
 * carries the reason it is skipped.
 */
export function postgresTitle(title: string): string {
  return HAS_DATABASE ? title : `${title} — skipped: TOKENKIT_TEST_DATABASE_URL is not set (bash .ci/run starts a PostgreSQL 15 and sets it)`;
}

/** uniqueName returns a fresh lower-case identifier, `tk_<prefix>_<random>`. */
export function uniqueName(prefix: string): string {
  return `tk_${prefix}_${randomBytes(6).toString("hex")}`;
}

/** adminQuery runs one statement on the test server with a short-lived connection. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = [], url = TEST_DATABASE_URL): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** dropSchema removes a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** withDatabaseName returns `url` pointing at database `name` on the same server. */
export function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** createTestDatabase creates an empty database for one test (e.g. for `tokenkit serve` processes). */
export async function createTestDatabase(prefix = "db"): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = uniqueName(prefix);
  await adminQuery(`CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabaseName(TEST_DATABASE_URL, name),
    async drop() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * inFreshSchema opens a Postgres store in a schema of its own for a store contract suite:
 * `reopen` is a second pool on the same schema (another tokenkit instance), `cleanup` closes
 * the store and drops the schema.
 */
export async function inFreshSchema<S extends { close(): Promise<void> }>(
  prefix: string,
  open: (options: { connectionString: string; schema: string }) => Promise<S>,
): Promise<{ store: S; reopen: () => Promise<S>; cleanup(): Promise<void> }> {
  const schema = uniqueName(prefix);
  const reopen = () => open({ connectionString: TEST_DATABASE_URL, schema });
  const store = await reopen();
  return {
    store,
    reopen,
    cleanup: async () => {
      await store.close();
      await dropSchema(schema);
    },
  };
}

import type { PostgresPool } from "./postgres-pool.js";
import { describePostgresUrl, poolSchema } from "./postgres-pool.js";

/**
 * POSTGRES_MIGRATIONS is the ordered schema history of every Postgres store
 * (token families, signing keys, events) in one list, so one database has
 * one version: `tokenkit_schema_migrations` records each applied number.
 * Append only: never edit a migration that has shipped.
 *
 * Times are Unix seconds (families, tokens, keys) or milliseconds (events,
 * heartbeats), as in the store interfaces; `bigint` throughout.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: token families and refresh tokens (hashes only), signing keys (private keys encrypted).
  `
  CREATE TABLE tokenkit_families (
    sid text PRIMARY KEY,
    subject text NOT NULL,
    scopes jsonb NOT NULL,
    audiences jsonb NOT NULL,
    metadata jsonb NOT NULL,
    actor jsonb,
    access_ttl bigint NOT NULL,
    refresh_ttl bigint NOT NULL,
    created_at bigint NOT NULL,
    absolute_expires_at bigint,
    parent_sid text REFERENCES tokenkit_families(sid),
    revoked_at bigint,
    revoke_reason text
  );
  CREATE INDEX tokenkit_families_parent ON tokenkit_families(parent_sid) WHERE parent_sid IS NOT NULL;
  CREATE INDEX tokenkit_families_revoked ON tokenkit_families(revoked_at) WHERE revoked_at IS NOT NULL;
  CREATE TABLE tokenkit_refresh_tokens (
    hash text PRIMARY KEY,
    sid text NOT NULL REFERENCES tokenkit_families(sid),
    generation integer NOT NULL,
    issued_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    spent_at bigint,
    successor_hash text,
    successor_box bytea
  );
  CREATE INDEX tokenkit_refresh_tokens_sid ON tokenkit_refresh_tokens(sid);
  CREATE INDEX tokenkit_refresh_tokens_expires ON tokenkit_refresh_tokens(expires_at);
  CREATE INDEX tokenkit_refresh_tokens_boxes ON tokenkit_refresh_tokens(spent_at) WHERE successor_box IS NOT NULL;
  CREATE TABLE tokenkit_signing_keys (
    kid text PRIMARY KEY,
    alg text NOT NULL,
    created_at bigint NOT NULL,
    activates_at bigint NOT NULL,
    expires_at bigint,
    public_jwk jsonb NOT NULL,
    private_jwk_sealed bytea NOT NULL,
    kek_id text NOT NULL
  );
  `,
  // 2: events with per-subject sequences (a counter row per subject), last heartbeats.
  `
  CREATE TABLE tokenkit_event_subjects (
    subject text PRIMARY KEY,
    last_sequence bigint NOT NULL
  );
  CREATE TABLE tokenkit_events (
    subject text NOT NULL,
    sequence bigint NOT NULL,
    id text NOT NULL,
    type text NOT NULL,
    payload bytea NOT NULL,
    received_at bigint NOT NULL,
    PRIMARY KEY (subject, sequence),
    UNIQUE (subject, id)
  );
  CREATE TABLE tokenkit_heartbeats (
    sid text NOT NULL,
    instance_id text NOT NULL,
    subject text NOT NULL,
    attributes jsonb NOT NULL,
    received_at bigint NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (sid, instance_id)
  );
  `,
];

/** The first key of the two-key advisory lock serializing migrations ("tkit"). */
const LOCK_CLASS = 0x746b6974;

const migrated = new WeakMap<PostgresPool, Promise<void>>();

async function migrate(pool: PostgresPool, migrations: readonly string[]): Promise<void> {
  const schema = poolSchema(pool);
  const client = await pool.connect();
  let broken: unknown;
  try {
    await client.query("BEGIN");
    // Held until COMMIT/ROLLBACK: instances starting at once take turns, and the
    // later ones find the work done. The second key is the schema, so tenants
    // in other schemas of one database do not wait for each other.
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, current_schema(), 'public')))", [LOCK_CLASS, schema ?? null]);
    if (schema !== undefined) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    }
    await client.query(
      `CREATE TABLE IF NOT EXISTS tokenkit_schema_migrations (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM tokenkit_schema_migrations");
    const current = rows[0]?.v ?? 0;
    if (current > migrations.length) {
      throw new Error(
        `Postgres store schema is at version ${current}, newer than this tokenkit knows (${migrations.length}); upgrade tokenkit`,
      );
    }
    for (let v = current; v < migrations.length; v++) {
      await client.query(migrations[v]!);
      await client.query("INSERT INTO tokenkit_schema_migrations (version) VALUES ($1)", [v + 1]);
    }
    await client.query("COMMIT");
  } catch (err) {
    broken = err;
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    // A failed migration may have lost its connection: drop it rather than reuse it.
    client.release(broken !== undefined);
  }
}

/**
 * migratePostgres brings the database behind `pool` to the latest of
 * {@link POSTGRES_MIGRATIONS} in one transaction under a transaction-scoped
 * advisory lock (`pg_advisory_xact_lock`), so that several instances starting
 * at once migrate exactly once and none sees a half-built schema. It refuses
 * a database written by a newer tokenkit. Runs once per pool; later calls
 * share the first one's promise (a failed attempt may be retried).
 */
export function migratePostgres(pool: PostgresPool): Promise<void> {
  let done = migrated.get(pool);
  if (done === undefined) {
    done = migrate(pool, POSTGRES_MIGRATIONS).catch((err: unknown) => {
      if (err instanceof Error && /newer than this tokenkit knows/.test(err.message)) {
        throw err;
      }
      const where = describePostgresUrl(pool.options.connectionString ?? "");
      throw new Error(`cannot prepare the Postgres store at ${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
    migrated.set(pool, done);
    done.catch(() => migrated.delete(pool));
  }
  return done;
}

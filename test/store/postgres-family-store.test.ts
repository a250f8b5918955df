import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createPostgresFamilyStore } from "../../src/server/store/postgres-family-store.js";
import { POSTGRES_MIGRATIONS } from "../../src/server/store/postgres-migrations.js";
import { createPostgresPool } from "../../src/server/store/postgres-pool.js";
import { adminQuery, dropSchema, HAS_DATABASE, inFreshSchema, postgresTitle, TEST_DATABASE_URL, uniqueName } from "../helpers/postgres.js";
import { createTokenServerFixture } from "../helpers/token-server-fixture.js";
import { describeFamilyStoreContract, family, token } from "./family-store-contract.js";

const T0 = 1_800_000_000;

describe.skipIf(!HAS_DATABASE)(postgresTitle("Postgres family store"), () => {
  describeFamilyStoreContract("postgres", () => inFreshSchema("fam", createPostgresFamilyStore));

  describe("Postgres specifics", () => {
    it("ten instances starting at once on an empty schema migrate exactly once", async () => {
      const schema = uniqueName("mig");
      const stores = await Promise.all(Array.from({ length: 10 }, () => createPostgresFamilyStore({ connectionString: TEST_DATABASE_URL, schema })));
      const versions = await adminQuery<{ version: number }>(`SELECT version FROM ${schema}.tokenkit_schema_migrations ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
      await stores[0]!.createFamily(family("f1"), token("h0", "f1"));
      expect(await stores[9]!.getFamily("f1")).toEqual(family("f1"));
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    });

    it("refuses a database written by a newer schema, naming the versions", async () => {
      const schema = uniqueName("new");
      await (await createPostgresFamilyStore({ connectionString: TEST_DATABASE_URL, schema })).close();
      await adminQuery(`INSERT INTO ${schema}.tokenkit_schema_migrations (version) VALUES (${POSTGRES_MIGRATIONS.length + 1})`);
      await expect(createPostgresFamilyStore({ connectionString: TEST_DATABASE_URL, schema })).rejects.toThrow(
        new RegExp(`version ${POSTGRES_MIGRATIONS.length + 1}, newer than this tokenkit knows`),
      );
      await dropSchema(schema);
    });

    it("a real TokenService on Postgres leaves no token text in the database", async () => {
      const schema = uniqueName("txt");
      const store = await createPostgresFamilyStore({ connectionString: TEST_DATABASE_URL, schema });
      const f = await createTokenServerFixture({ store });
      const p0 = (await f.issue({ subject: "alice", metadata: { team: "infra" } })).tokenPair!;
      const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
      const rows = await adminQuery<{ dump: string }>(
        `SELECT string_agg(t::text, ' ') AS dump FROM (SELECT row_to_json(x)::text AS t FROM ${schema}.tokenkit_refresh_tokens x UNION ALL SELECT row_to_json(y)::text FROM ${schema}.tokenkit_families y) s`,
      );
      const dump = rows[0]!.dump;
      expect(dump.length).toBeGreaterThan(0);
      for (const t of [p0.refreshToken, p0.accessToken, p1.refreshToken, p1.accessToken]) {
        for (const part of t.split(".")) {
          expect(dump.includes(part)).toBe(false);
        }
      }
      await f.close();
      await store.close();
      await dropSchema(schema);
    });

    it("a lost connection fails the call with Unavailable, and the next call reconnects by itself", async () => {
      const schema = uniqueName("lost");
      const applicationName = uniqueName("app");
      const store = await createPostgresFamilyStore({ connectionString: TEST_DATABASE_URL, schema, applicationName });
      await store.createFamily(family("f1"), token("h0", "f1"));
      // A statement that is still running when its connection is cut.
      const pool = createPostgresPool({ connectionString: TEST_DATABASE_URL, schema });
      const locker = await pool.connect();
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM tokenkit_refresh_tokens WHERE hash = 'h0' FOR UPDATE");
      const blocked = store
        .rotate({ presentedHash: "h0", now: T0, graceSeconds: 30, successor: { record: token("h1", "f1", T0), box: new Uint8Array([1]) } })
        .then((r) => r, (e: unknown) => e);
      // Wait (by polling) until the rotation waits on the row lock, then end its connection.
      for (;;) {
        const waiting = await adminQuery(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [applicationName]);
        if (waiting.length > 0) break;
      }
      await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]);
      const err = await blocked;
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      expect((err as ConnectError).message).toBe("[unavailable] Postgres token store unavailable during rotate");
      await locker.query("ROLLBACK");
      locker.release();
      await pool.end();
      // Nothing was half-written, and the store works again without being reopened.
      expect(await store.rotate({ presentedHash: "h0", now: T0, graceSeconds: 30 })).toMatchObject({ kind: "current" });
      expect(await store.rotate({ presentedHash: "h0", now: T0, graceSeconds: 30, successor: { record: token("h1", "f1", T0), box: new Uint8Array([1]) } })).toEqual({
        kind: "rotated",
        generation: 1,
      });
      await store.close();
      await dropSchema(schema);
    });

    it("a statement over the statement timeout (a rotation stuck behind a lock) fails with Unavailable and rolls back", async () => {
      const schema = uniqueName("slow");
      const store = await createPostgresFamilyStore({ connectionString: TEST_DATABASE_URL, schema, statementTimeoutMs: 200 });
      await store.createFamily(family("f1"), token("h0", "f1"));
      const pool = createPostgresPool({ connectionString: TEST_DATABASE_URL, schema });
      const locker = await pool.connect();
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM tokenkit_refresh_tokens WHERE hash = 'h0' FOR UPDATE");
      await expect(
        store.rotate({ presentedHash: "h0", now: T0, graceSeconds: 30, successor: { record: token("h1", "f1", T0), box: new Uint8Array([1]) } }),
      ).rejects.toSatisfy((e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable);
      await locker.query("ROLLBACK");
      locker.release();
      await pool.end();
      expect(await store.rotate({ presentedHash: "h1", now: T0, graceSeconds: 30 })).toEqual({ kind: "unknown" });
      await store.close();
      await dropSchema(schema);
    });

    it("a database unreachable at start fails with a message naming the server but not the password", async () => {
      const err = (await createPostgresFamilyStore({ connectionString: "postgres://tk:secret-pw@127.0.0.1:1/nowhere", connectTimeoutMs: 2000 }).catch((e: unknown) => e)) as Error;
      expect(err.message).toMatch(/postgres:\/\/127\.0\.0\.1:1\/nowhere/);
      expect(err.message).not.toMatch(/secret-pw/);
    });

    it("a closed pool fails calls with Unavailable (not Internal)", async () => {
      const schema = uniqueName("down");
      const pool = createPostgresPool({ connectionString: TEST_DATABASE_URL, schema });
      const store = await createPostgresFamilyStore({ pool });
      await pool.end();
      const err = await store.getFamily("x").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      await store.close();
      await dropSchema(schema);
    });
  });
});

describe("Postgres family store options", () => {
  it("are validated at construction, naming the option", async () => {
    await expect(createPostgresFamilyStore({})).rejects.toThrow(/"pool" or option "connectionString"/);
    await expect(createPostgresFamilyStore({ connectionString: "mysql://x" })).rejects.toThrow(/connectionString/);
    await expect(createPostgresFamilyStore({ connectionString: "postgres://h/db", maxConnections: 0 })).rejects.toThrow(/maxConnections/);
    await expect(createPostgresFamilyStore({ connectionString: "postgres://h/db", statementTimeoutMs: -1 })).rejects.toThrow(/statementTimeoutMs/);
    await expect(createPostgresFamilyStore({ connectionString: "postgres://h/db", schema: "Bad;Drop" })).rejects.toThrow(/schema/);
    // @ts-expect-error: not a pool
    await expect(createPostgresFamilyStore({ pool: {} })).rejects.toThrow(/pg.Pool/);
  });
});

import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createPostgresEventStore } from "../../src/server/store/postgres-event-store.js";
import { adminQuery, dropSchema, HAS_DATABASE, inFreshSchema, postgresTitle, TEST_DATABASE_URL, uniqueName } from "../helpers/postgres.js";
import { describeEventStoreContract, ev } from "./event-store-contract.js";

const T0 = 1_800_000_000_000;

describe.skipIf(!HAS_DATABASE)(postgresTitle("Postgres event store"), () => {
  describeEventStoreContract("postgres", () => inFreshSchema("ev", createPostgresEventStore));

  describe("Postgres specifics", () => {
    it("two instances appending to one subject at once get one gap-free sequence; each id is stored once", async () => {
      const schema = uniqueName("ev2");
      const a = await createPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
      const b = await createPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
      try {
        const results = await Promise.all(
          Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).append("alice", [ev(`e${i}`), ev(`e${(i + 7) % 60}`), ev(`e${i}`)], T0 + i)),
        );
        expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(60);
        expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(120);
        const got = await b.list({ subject: "alice", afterSequence: 0, limit: 1000 });
        expect(got.map((e) => e.sequence)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
        expect(new Set(got.map((e) => e.id)).size).toBe(60);
      } finally {
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    });

    it("an append that fails after inserting keeps nothing (all or nothing) and reports Unavailable", async () => {
      const schema = uniqueName("ev3");
      const s = await createPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
      try {
        await s.append("alice", [ev("a")], T0);
        // Make the counter update of subject "alice" fail, after the events were inserted.
        await adminQuery(`
          CREATE FUNCTION ${schema}.fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$;
          CREATE TRIGGER fail BEFORE UPDATE ON ${schema}.tokenkit_event_subjects FOR EACH ROW WHEN (NEW.last_sequence > OLD.last_sequence) EXECUTE FUNCTION ${schema}.fail();
        `);
        const err = await s.append("alice", [ev("b"), ev("c")], T0 + 1).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectError);
        expect((err as ConnectError).code).toBe(Code.Unavailable);
        expect((await s.list({ subject: "alice", afterSequence: 0, limit: 10 })).map((e) => e.id)).toEqual(["a"]);
        await adminQuery(`DROP TRIGGER fail ON ${schema}.tokenkit_event_subjects`);
        expect(await s.append("alice", [ev("b"), ev("c")], T0 + 2)).toEqual({ accepted: 2, duplicates: 0, lastSequence: 3 });
      } finally {
        await s.close();
        await dropSchema(schema);
      }
    });

    it("shares one schema version with the family store (one migration list)", async () => {
      const schema = uniqueName("ev4");
      const s = await createPostgresEventStore({ connectionString: TEST_DATABASE_URL, schema });
      const tables = await adminQuery<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema]);
      expect(tables.map((t) => t.table_name)).toEqual(
        expect.arrayContaining(["tokenkit_events", "tokenkit_event_subjects", "tokenkit_heartbeats", "tokenkit_families", "tokenkit_schema_migrations"]),
      );
      await s.close();
      await dropSchema(schema);
    });
  });
});

describe("Postgres event store options", () => {
  it("are validated at construction, naming the option", async () => {
    await expect(createPostgresEventStore({})).rejects.toThrow(/"pool" or option "connectionString"/);
    await expect(createPostgresEventStore({ connectionString: "postgres://h/db", idleTimeoutMs: 0 })).rejects.toThrow(/idleTimeoutMs/);
  });
});

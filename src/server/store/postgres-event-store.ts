import type { AppendResult, EventInput, EventRecord, EventStore, HeartbeatRecord, ListQuery } from "./event-store.js";
import type { PostgresPool, PostgresStoreOptions } from "./postgres-pool.js";
import { openPostgresStore } from "./postgres-store-handle.js";

const WHAT = "Postgres event store";

/**
 * PostgresEventStoreOptions configures {@link createPostgresEventStore}: a
 * shared `pool`, or a `connectionString` (plus pool options) for a pool of
 * the store's own. See {@link PostgresStoreOptions}.
 */
export type PostgresEventStoreOptions = PostgresStoreOptions;

/** An event row as `pg` returns it: bigint columns are strings. */
interface EventRow {
  subject: string;
  sequence: string;
  id: string;
  type: string;
  payload: Buffer;
  received_at: string;
}

interface HeartbeatRow {
  sid: string;
  instance_id: string;
  subject: string;
  attributes: Record<string, string>;
  received_at: string;
  count: string;
}

const toEvent = (r: EventRow): EventRecord => ({
  subject: r.subject,
  sequence: Number(r.sequence),
  id: r.id,
  type: r.type,
  payload: new Uint8Array(r.payload),
  receivedAt: Number(r.received_at),
});

const toHeartbeat = (r: HeartbeatRow): HeartbeatRecord => ({
  sid: r.sid,
  instanceId: r.instance_id,
  subject: r.subject,
  attributes: r.attributes,
  receivedAt: Number(r.received_at),
  count: Number(r.count),
});

/**
 * Takes the subject's counter row (creating it at 0) and its lock, held until
 * the append commits: appends for one subject run one after another, so their
 * sequences are gap-free and become visible in order.
 */
const LOCK_SUBJECT = `
  INSERT INTO tokenkit_event_subjects (subject, last_sequence) VALUES ($1, 0)
  ON CONFLICT (subject) DO UPDATE SET last_sequence = tokenkit_event_subjects.last_sequence
  RETURNING last_sequence`;

const EXISTING_IDS = `SELECT id FROM tokenkit_events WHERE subject = $1 AND id = ANY($2::text[])`;

const INSERT_EVENTS = `
  INSERT INTO tokenkit_events (subject, sequence, id, type, payload, received_at)
  SELECT $1, $2::bigint + n, id, type, payload, $3
  FROM unnest($4::text[], $5::text[], $6::bytea[]) WITH ORDINALITY AS e(id, type, payload, n)`;

const SET_LAST = `UPDATE tokenkit_event_subjects SET last_sequence = $2 WHERE subject = $1`;

/**
 * A page of events bounded by count ($3) and payload bytes ($4): the running total of the
 * payload sizes before each row must stay under $4, so the page ends with the row that reaches
 * it and the first row always comes back. Only sizes are summed; the rows past the end never
 * leave the database.
 */
const pageOf = (filter: string) => `
  SELECT subject, sequence, id, type, payload, received_at FROM (
    SELECT *, sum(octet_length(payload)) OVER (ORDER BY sequence) - octet_length(payload) AS before
    FROM (SELECT * FROM tokenkit_events WHERE subject = $1 AND sequence > $2 ${filter} ORDER BY sequence LIMIT $3) AS candidates
  ) AS page WHERE before < $4 ORDER BY sequence`;

const SELECT_ALL = pageOf("");

const SELECT_TYPES = pageOf("AND type = ANY($5::text[])");

const UPSERT_HEARTBEAT = `
  INSERT INTO tokenkit_heartbeats (sid, instance_id, subject, attributes, received_at, count) VALUES ($1, $2, $3, $4, $5, 1)
  ON CONFLICT (sid, instance_id) DO UPDATE SET subject = excluded.subject, attributes = excluded.attributes,
    received_at = excluded.received_at, count = tokenkit_heartbeats.count + 1
  RETURNING *`;

const SELECT_HEARTBEAT = `SELECT * FROM tokenkit_heartbeats WHERE sid = $1 AND instance_id = $2`;

async function append(pool: PostgresPool, subject: string, events: readonly EventInput[], now: number): Promise<AppendResult> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query("BEGIN");
    const first = Number((await client.query<{ last_sequence: string }>(LOCK_SUBJECT, [subject])).rows[0]!.last_sequence);
    const ids = [...new Set(events.map((e) => e.id))];
    const existing = new Set((await client.query<{ id: string }>(EXISTING_IDS, [subject, ids])).rows.map((r) => r.id));
    // The first copy of each new id, in batch order; repeats and known ids are duplicates.
    const fresh: EventInput[] = [];
    for (const e of events) {
      if (!existing.has(e.id)) {
        existing.add(e.id);
        fresh.push(e);
      }
    }
    if (fresh.length > 0) {
      await client.query(INSERT_EVENTS, [
        subject,
        first,
        now,
        fresh.map((e) => e.id),
        fresh.map((e) => e.type),
        fresh.map((e) => Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)),
      ]);
      await client.query(SET_LAST, [subject, first + fresh.length]);
    }
    await client.query("COMMIT");
    return { accepted: fresh.length, duplicates: events.length - fresh.length, lastSequence: first + fresh.length };
  } catch (err) {
    failed = true;
    // If the connection is gone the server has rolled back already; either way nothing is kept.
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    // A client that failed mid-transaction may be broken: drop it instead of reusing it.
    client.release(failed);
  }
}

/** The page's byte bound as a bigint parameter: "unbounded" is the largest one. */
const maxBytes = (q: ListQuery): string => (q.maxBytes === undefined || !Number.isFinite(q.maxBytes) ? "9223372036854775807" : String(Math.ceil(q.maxBytes)));

/**
 * createPostgresEventStore returns an {@link EventStore} in PostgreSQL, shared
 * by several `tokenkit serve` instances. It applies the schema migrations
 * first (once, under an advisory lock) and resolves when ready.
 *
 * Each append is one short transaction: it takes the subject's counter row
 * with `INSERT … ON CONFLICT DO UPDATE … RETURNING` (so appends for one
 * subject serialize on its lock and sequences become visible in order, while
 * other subjects proceed in parallel), skips ids the subject already has and
 * repeats within the batch (counted as duplicates), inserts the rest with
 * consecutive sequences and advances the counter — all or nothing. Store
 * failures reject with `Unavailable`; after `close()` every call does.
 */
export async function createPostgresEventStore(options: PostgresEventStoreOptions): Promise<EventStore> {
  const store = await openPostgresStore(options, "createPostgresEventStore", WHAT);
  const { pool, call } = store;

  return {
    append: (subject, events, now) => call("append", () => append(pool, subject, events, now)),
    list: (q: ListQuery) =>
      call("list", async () => {
        const { rows } =
          q.types !== undefined && q.types.length > 0
            ? await pool.query<EventRow>(SELECT_TYPES, [q.subject, q.afterSequence, q.limit, maxBytes(q), q.types])
            : await pool.query<EventRow>(SELECT_ALL, [q.subject, q.afterSequence, q.limit, maxBytes(q)]);
        return rows.map(toEvent);
      }),
    recordHeartbeat: (hb) =>
      call("recordHeartbeat", async () => {
        const { rows } = await pool.query<HeartbeatRow>(UPSERT_HEARTBEAT, [hb.sid, hb.instanceId, hb.subject, JSON.stringify(hb.attributes), hb.receivedAt]);
        return toHeartbeat(rows[0]!);
      }),
    lastHeartbeat: (sid, instanceId) =>
      call("lastHeartbeat", async () => {
        const { rows } = await pool.query<HeartbeatRow>(SELECT_HEARTBEAT, [sid, instanceId]);
        return rows[0] === undefined ? undefined : toHeartbeat(rows[0]);
      }),
    close: () => store.close(),
  };
}

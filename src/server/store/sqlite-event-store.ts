import type { AppendResult, EventInput, EventRecord, EventStore, HeartbeatRecord, ListQuery } from "./event-store.js";
import { checkBusyTimeout, openSqliteDatabase, sqliteCall } from "./sqlite-database.js";
import { SQLITE_EVENT_MIGRATIONS } from "./sqlite-migrations.js";

const WHAT = "SQLite event store";

/** SqliteEventStoreOptions configures {@link createSqliteEventStore}. */
export interface SqliteEventStoreOptions {
  /** path is the database file (created with mode 0600, its directory 0700). Required. */
  path: string;
  /**
   * busyTimeoutMs is how long a write waits for another connection's lock
   * before failing with `Unavailable`.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

interface EventRow {
  subject: string;
  sequence: number;
  id: string;
  type: string;
  payload: Buffer;
  received_at: number;
}

interface HeartbeatRow {
  sid: string;
  instance_id: string;
  subject: string;
  attributes: string;
  received_at: number;
  count: number;
}

const toEvent = (r: EventRow): EventRecord => ({
  subject: r.subject,
  sequence: r.sequence,
  id: r.id,
  type: r.type,
  payload: new Uint8Array(r.payload),
  receivedAt: r.received_at,
});

const toHeartbeat = (r: HeartbeatRow): HeartbeatRecord => ({
  sid: r.sid,
  instanceId: r.instance_id,
  subject: r.subject,
  attributes: JSON.parse(r.attributes) as Record<string, string>,
  receivedAt: r.received_at,
  count: r.count,
});

/**
 * createSqliteEventStore returns an {@link EventStore} in one SQLite file
 * (better-sqlite3, WAL, versioned migrations). Each append is one
 * `BEGIN IMMEDIATE` transaction that advances the subject's counter, so
 * sequences are gap-free and committed in order even with several
 * processes on the file; an event id the subject already has is skipped.
 */
export function createSqliteEventStore(options: SqliteEventStoreOptions): EventStore {
  if (typeof options?.path !== "string" || options.path === "") {
    throw new TypeError('createSqliteEventStore: option "path" must be a non-empty string');
  }
  const busyTimeoutMs = checkBusyTimeout("createSqliteEventStore", options.busyTimeoutMs);
  const db = openSqliteDatabase({ path: options.path, busyTimeoutMs, migrations: SQLITE_EVENT_MIGRATIONS, what: WHAT });

  const selectLast = db.prepare(`SELECT last_sequence FROM subjects WHERE subject = ?`).pluck();
  const upsertLast = db.prepare(
    `INSERT INTO subjects (subject, last_sequence) VALUES (?, ?) ON CONFLICT (subject) DO UPDATE SET last_sequence = excluded.last_sequence`,
  );
  const hasId = db.prepare(`SELECT 1 FROM events WHERE subject = ? AND id = ?`).pluck();
  const insertEvent = db.prepare(
    `INSERT INTO events (subject, sequence, id, type, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const selectAll = db.prepare(
    `SELECT * FROM events WHERE subject = ? AND sequence > ? ORDER BY sequence LIMIT ?`,
  );
  const selectTypes = db.prepare(
    `SELECT * FROM events WHERE subject = ? AND sequence > ? AND type IN (SELECT value FROM json_each(?)) ORDER BY sequence LIMIT ?`,
  );
  const upsertHeartbeat = db.prepare(
    `INSERT INTO heartbeats (sid, instance_id, subject, attributes, received_at, count) VALUES (?, ?, ?, ?, ?, 1)
     ON CONFLICT (sid, instance_id) DO UPDATE SET subject = excluded.subject, attributes = excluded.attributes,
       received_at = excluded.received_at, count = heartbeats.count + 1
     RETURNING *`,
  );
  const selectHeartbeat = db.prepare(`SELECT * FROM heartbeats WHERE sid = ? AND instance_id = ?`);

  const appendTx = db.transaction((subject: string, events: readonly EventInput[], now: number): AppendResult => {
    const first = (selectLast.get(subject) as number | undefined) ?? 0;
    let last = first;
    const seen = new Set<string>();
    for (const e of events) {
      if (seen.has(e.id) || hasId.get(subject, e.id) !== undefined) {
        continue;
      }
      seen.add(e.id);
      last++;
      insertEvent.run(subject, last, e.id, e.type, Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength), now);
    }
    if (last !== first) {
      upsertLast.run(subject, last);
    }
    const accepted = last - first;
    return { accepted, duplicates: events.length - accepted, lastSequence: last };
  });

  // Rows are stepped one at a time, so a page bounded by bytes never reads past its end.
  function list(q: ListQuery): EventRecord[] {
    const rows = (
      q.types !== undefined && q.types.length > 0
        ? selectTypes.iterate(q.subject, q.afterSequence, JSON.stringify(q.types), q.limit)
        : selectAll.iterate(q.subject, q.afterSequence, q.limit)
    ) as IterableIterator<EventRow>;
    const maxBytes = q.maxBytes ?? Infinity;
    const out: EventRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      out.push(toEvent(row));
      bytes += row.payload.byteLength;
      if (bytes >= maxBytes) {
        rows.return?.();
        break;
      }
    }
    return out;
  }

  return {
    append: (subject, events, now) => sqliteCall(WHAT, "append", () => appendTx.immediate(subject, events, now)),
    list: (query) => sqliteCall(WHAT, "list", () => list(query)),
    recordHeartbeat: (hb) =>
      sqliteCall(WHAT, "recordHeartbeat", () =>
        toHeartbeat(upsertHeartbeat.get(hb.sid, hb.instanceId, hb.subject, JSON.stringify(hb.attributes), hb.receivedAt) as HeartbeatRow),
      ),
    lastHeartbeat: (sid, instanceId) =>
      sqliteCall(WHAT, "lastHeartbeat", () => {
        const r = selectHeartbeat.get(sid, instanceId) as HeartbeatRow | undefined;
        return r === undefined ? undefined : toHeartbeat(r);
      }),
    close: async () => {
      if (db.open) {
        db.close();
      }
    },
  };
}

import { Code, ConnectError } from "@connectrpc/connect";
import type { AppendResult, EventRecord, EventStore, HeartbeatRecord } from "./event-store.js";

interface SubjectLog {
  events: EventRecord[];
  ids: Set<string>;
}

/**
 * createMemoryEventStore returns an {@link EventStore} held in this process:
 * for tests, single-process development and `tokenkit serve --store memory`.
 * Every method runs synchronously inside its promise, so each call is atomic
 * with respect to the others.
 */
export function createMemoryEventStore(): EventStore {
  const logs = new Map<string, SubjectLog>();
  const heartbeats = new Map<string, HeartbeatRecord>();
  let closed = false;

  function call<T>(fn: () => T): Promise<T> {
    if (closed) {
      return Promise.reject(new ConnectError("memory event store is closed", Code.Unavailable));
    }
    return Promise.resolve(fn());
  }

  const heartbeatKey = (sid: string, instanceId: string) => JSON.stringify([sid, instanceId]);

  return {
    append: (subject, events, now) =>
      call((): AppendResult => {
        let log = logs.get(subject);
        if (log === undefined) {
          log = { events: [], ids: new Set() };
          logs.set(subject, log);
        }
        let accepted = 0;
        for (const e of events) {
          if (log.ids.has(e.id)) {
            continue;
          }
          log.ids.add(e.id);
          log.events.push({ subject, sequence: log.events.length + 1, id: e.id, type: e.type, payload: e.payload.slice(), receivedAt: now });
          accepted++;
        }
        return { accepted, duplicates: events.length - accepted, lastSequence: log.events.length };
      }),
    list: ({ subject, afterSequence, limit, maxBytes = Infinity, types }) =>
      call(() => {
        const log = logs.get(subject);
        if (log === undefined) {
          return [];
        }
        const wanted = types !== undefined && types.length > 0 ? new Set(types) : undefined;
        const out: EventRecord[] = [];
        let bytes = 0;
        // Sequences are 1-based array positions, so the scan starts right after afterSequence.
        for (let i = Math.max(0, afterSequence); i < log.events.length && out.length < limit && bytes < maxBytes; i++) {
          const e = log.events[i]!;
          if (wanted === undefined || wanted.has(e.type)) {
            out.push({ ...e, payload: e.payload.slice() });
            bytes += e.payload.byteLength;
          }
        }
        return out;
      }),
    recordHeartbeat: (hb) =>
      call(() => {
        const key = heartbeatKey(hb.sid, hb.instanceId);
        const record: HeartbeatRecord = { ...hb, attributes: { ...hb.attributes }, count: (heartbeats.get(key)?.count ?? 0) + 1 };
        heartbeats.set(key, record);
        return { ...record, attributes: { ...record.attributes } };
      }),
    lastHeartbeat: (sid, instanceId) =>
      call(() => {
        const r = heartbeats.get(heartbeatKey(sid, instanceId));
        return r === undefined ? undefined : { ...r, attributes: { ...r.attributes } };
      }),
    close: async () => {
      closed = true;
    },
  };
}

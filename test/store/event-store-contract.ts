import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EventInput, EventStore } from "../../src/server/store/event-store.js";

/** An opened event store under test and how to dispose of it. */
export interface OpenedEventStore {
  store: EventStore;
  /** reopen returns a second handle on the same data (a restart, or another instance); absent for memory. */
  reopen?: () => Promise<EventStore>;
  cleanup(): Promise<void>;
}

const T0 = 1_800_000_000_000;

/** ev builds an event input whose payload encodes its id, so round trips are checkable. */
export function ev(id: string, type = "t", bytes?: Uint8Array): EventInput {
  return { id, type, payload: bytes ?? new TextEncoder().encode(`payload-of-${id}`) };
}

/**
 * describeEventStoreContract runs the one behavioural contract every
 * EventStore must meet (memory, SQLite, Postgres): the same suite, unchanged.
 */
export function describeEventStoreContract(name: string, open: () => Promise<OpenedEventStore>): void {
  describe(`EventStore contract: ${name}`, () => {
    let o: OpenedEventStore;
    let s: EventStore;
    beforeEach(async () => {
      o = await open();
      s = o.store;
    });
    afterEach(async () => {
      await o.cleanup();
    });

    const all = (subject: string, afterSequence = 0, limit = 1000, types?: string[]) => s.list({ subject, afterSequence, limit, types });

    it("numbers a subject's events 1, 2, 3 … and returns every field byte for byte", async () => {
      const binary = new Uint8Array([0, 255, 1, 128, 0]);
      expect(await s.append("alice", [ev("a"), ev("b", "u", binary)], T0)).toEqual({ accepted: 2, duplicates: 0, lastSequence: 2 });
      expect(await s.append("alice", [ev("c")], T0 + 5)).toEqual({ accepted: 1, duplicates: 0, lastSequence: 3 });
      const got = await all("alice");
      expect(got.map((e) => [e.sequence, e.id])).toEqual([[1, "a"], [2, "b"], [3, "c"]]);
      expect(got[1]).toEqual({ subject: "alice", sequence: 2, id: "b", type: "u", payload: binary, receivedAt: T0 });
      expect(got[2]!.receivedAt).toBe(T0 + 5);
    });

    it("stores an id once per subject: a re-sent batch is all duplicates, a repeat inside a batch too", async () => {
      await s.append("alice", [ev("a"), ev("b")], T0);
      expect(await s.append("alice", [ev("a"), ev("b")], T0 + 1)).toEqual({ accepted: 0, duplicates: 2, lastSequence: 2 });
      expect(await s.append("alice", [ev("c"), ev("a"), ev("c")], T0 + 2)).toEqual({ accepted: 1, duplicates: 2, lastSequence: 3 });
      const got = await all("alice");
      expect(got.map((e) => e.id)).toEqual(["a", "b", "c"]);
      // The first copy wins: the duplicate's payload did not overwrite it.
      expect(new TextDecoder().decode(got[0]!.payload)).toBe("payload-of-a");
    });

    it("keeps subjects apart: own sequences, own ids, own lists", async () => {
      await s.append("alice", [ev("a"), ev("b")], T0);
      expect(await s.append("bob", [ev("a")], T0)).toEqual({ accepted: 1, duplicates: 0, lastSequence: 1 });
      expect((await all("bob")).map((e) => [e.subject, e.sequence, e.id])).toEqual([["bob", 1, "a"]]);
      expect((await all("alice")).every((e) => e.subject === "alice")).toBe(true);
      expect(await all("carol")).toEqual([]);
    });

    it("lists after a sequence, up to a limit, filtered by type", async () => {
      await s.append("alice", [ev("1", "x"), ev("2", "y"), ev("3", "x"), ev("4", "z"), ev("5", "x")], T0);
      expect((await all("alice", 2)).map((e) => e.sequence)).toEqual([3, 4, 5]);
      expect((await all("alice", 0, 2)).map((e) => e.sequence)).toEqual([1, 2]);
      expect((await all("alice", 5)).map((e) => e.sequence)).toEqual([]);
      expect((await all("alice", 1, 1000, ["x", "z"])).map((e) => e.sequence)).toEqual([3, 4, 5]);
      expect((await all("alice", 0, 2, ["x"])).map((e) => e.sequence)).toEqual([1, 3]);
      expect((await all("alice", 0, 1000, [])).length).toBe(5);
    });

    it("bounds a page by payload bytes: it ends with the event that reaches maxBytes, and always holds one", async () => {
      const kb = (id: string, type = "t") => ev(id, type, new Uint8Array(1000).fill(id.charCodeAt(0)));
      await s.append("alice", [kb("1"), kb("2", "y"), kb("3"), kb("4"), kb("5")], T0);
      const page = (afterSequence: number, maxBytes: number, limit = 1000, types?: string[]) =>
        s.list({ subject: "alice", afterSequence, limit, maxBytes, types }).then((r) => r.map((e) => e.sequence));
      expect(await page(0, 2500)).toEqual([1, 2, 3]);
      expect(await page(0, 2000)).toEqual([1, 2]);
      expect(await page(0, 1)).toEqual([1]);
      expect(await page(3, 1)).toEqual([4]);
      expect(await page(0, 100_000)).toEqual([1, 2, 3, 4, 5]);
      expect(await page(0, 100_000, 2)).toEqual([1, 2]);
      expect(await page(0, 1500, 1000, ["t"])).toEqual([1, 3]);
      expect(await page(5, 1)).toEqual([]);
      expect((await s.list({ subject: "alice", afterSequence: 1, limit: 1, maxBytes: 1 }))[0]!.payload).toEqual(new Uint8Array(1000).fill(50));
    });

    it("gives concurrent appends gap-free, distinct sequences and stores each id once", async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.append("alice", [ev(`e${i}`), ev(`e${(i + 1) % 20}`)], T0 + i)),
      );
      expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(20);
      expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(20);
      const got = await all("alice");
      expect(got.map((e) => e.sequence)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(new Set(got.map((e) => e.id)).size).toBe(20);
    });

    it("records the last heartbeat per session and instance, counting them", async () => {
      expect(await s.lastHeartbeat("sid-1", "i-1")).toBeUndefined();
      const first = await s.recordHeartbeat({ sid: "sid-1", instanceId: "i-1", subject: "alice", attributes: { v: "1" }, receivedAt: T0 });
      expect(first).toEqual({ sid: "sid-1", instanceId: "i-1", subject: "alice", attributes: { v: "1" }, receivedAt: T0, count: 1 });
      await s.recordHeartbeat({ sid: "sid-1", instanceId: "i-2", subject: "alice", attributes: {}, receivedAt: T0 + 1 });
      const again = await s.recordHeartbeat({ sid: "sid-1", instanceId: "i-1", subject: "alice", attributes: { v: "2", "k ü": "x\n" }, receivedAt: T0 + 30_000 });
      expect(again).toEqual({ sid: "sid-1", instanceId: "i-1", subject: "alice", attributes: { v: "2", "k ü": "x\n" }, receivedAt: T0 + 30_000, count: 2 });
      expect(await s.lastHeartbeat("sid-1", "i-1")).toEqual(again);
      expect((await s.lastHeartbeat("sid-1", "i-2"))?.count).toBe(1);
      expect(await s.lastHeartbeat("sid-2", "i-1")).toBeUndefined();
    });

    it("keeps events and heartbeats across a reopen (when the store persists)", async () => {
      if (o.reopen === undefined) {
        return;
      }
      await s.append("alice", [ev("a"), ev("b")], T0);
      await s.recordHeartbeat({ sid: "sid-1", instanceId: "", subject: "alice", attributes: {}, receivedAt: T0 });
      const b = await o.reopen();
      try {
        expect((await b.list({ subject: "alice", afterSequence: 0, limit: 10 })).map((e) => e.id)).toEqual(["a", "b"]);
        expect(await b.append("alice", [ev("b"), ev("c")], T0 + 1)).toEqual({ accepted: 1, duplicates: 1, lastSequence: 3 });
        expect((await b.lastHeartbeat("sid-1", ""))?.count).toBe(1);
      } finally {
        await b.close();
      }
    });

    it("fails with Unavailable once closed", async () => {
      await s.close();
      const err = await s.append("alice", [ev("a")], T0).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.Unavailable);
      expect(((await s.list({ subject: "alice", afterSequence: 0, limit: 1 }).catch((e: unknown) => e)) as ConnectError).code).toBe(Code.Unavailable);
    });
  });
}

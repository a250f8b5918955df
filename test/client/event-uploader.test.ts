import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { EventSchema, EventService, type IngestEventsRequest } from "../../gen/tokenkit/v1/event_service_pb.js";
import { createEventUploader, EventUploaderError, type EventUploaderEvent } from "../../src/client/event-uploader.js";
import { until } from "../helpers/manual-clock.js";
import { createSessionFixture, type SessionFixture } from "../helpers/session-fixture.js";

let fx: SessionFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** The ids of each IngestEvents call the server received, in order. */
const batches = (f: SessionFixture) =>
  f.calls.filter((c) => c.method === "IngestEvents").map((c) => (c.message as IngestEventsRequest).events.map((e) => e.id));

/** What the server stored for the fixture's subject: [sequence, id]. */
async function stored(f: SessionFixture): Promise<[number, string][]> {
  const records = await f.eventStore.list({ subject: f.subject, afterSequence: 0, limit: 10_000 });
  return records.map((r) => [r.sequence, r.id]);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

describe("createEventUploader against the real EventService", () => {
  it("batches by count, then sends the rest after lingerMs; stored in order, once", async () => {
    fx = await createSessionFixture();
    const f = fx;
    const up = createEventUploader(f.events, { clock: f.clock, maxBatchEvents: 3, lingerMs: 2000 });
    const ids = Array.from({ length: 7 }, (_, i) => up.add({ id: `e${i + 1}`, type: "tick", attributes: { i: String(i) } }));
    expect(ids).toEqual(["e1", "e2", "e3", "e4", "e5", "e6", "e7"]);
    // Two full batches go at once (one call at a time); the seventh waits for its linger time.
    await until(() => batches(f).length === 2 && up.stats().queued === 1);
    expect(batches(f)).toEqual([
      ["e1", "e2", "e3"],
      ["e4", "e5", "e6"],
    ]);
    f.clock.advance(1999);
    await until(() => f.clock.timers > 0);
    expect(batches(f)).toHaveLength(2);
    f.clock.advance(1);
    await until(() => up.stats().queued === 0);
    expect(batches(f)).toEqual([["e1", "e2", "e3"], ["e4", "e5", "e6"], ["e7"]]);
    expect(await stored(f)).toEqual(ids.map((id, i) => [i + 1, id]));
    expect(up.stats()).toEqual({ added: 7, accepted: 7, duplicates: 0, rejected: 0, batches: 3, retries: 0, queued: 0 });
  });

  it("batches by encoded bytes (maxBatchBytes)", async () => {
    fx = await createSessionFixture();
    const f = fx;
    const up = createEventUploader(f.events, { clock: f.clock, maxBatchBytes: 300, lingerMs: 0 });
    for (let i = 0; i < 4; i++) {
      up.add({ id: `b${i}`, type: "blob", attributes: { pad: "x".repeat(100) } });
    }
    await up.flush();
    expect(batches(f)).toEqual([
      ["b0", "b1"],
      ["b2", "b3"],
    ]);
  });

  it("assigns a UUID once, at add: a retry after a lost response resends the same ids; duplicates reported, nothing stored twice", async () => {
    fx = await createSessionFixture();
    const f = fx;
    let lose = 1;
    // The server stores the batch, then the response is lost on the way back.
    f.fault.after = (c) => (c.method === "IngestEvents" && lose-- > 0 ? new ConnectError("connection reset", Code.Unavailable) : undefined);
    const events: EventUploaderEvent[] = [];
    const up = createEventUploader(f.events, { clock: f.clock, lingerMs: 0, random: () => 0, onEvent: (e) => events.push(e) });
    const ids = [up.add({ type: "a" }), up.add({ type: "b" }), up.add({ type: "c" })];
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    const flushed = up.flush();
    await until(() => events.some((e) => e.type === "retry"));
    expect(events[0]).toMatchObject({ type: "retry", events: 3, attempt: 1, delayMs: 500, error: { code: Code.Unavailable } });
    f.clock.advance(500);
    const stats = await flushed;
    expect(batches(f)).toEqual([ids, ids]);
    expect(events[1]).toMatchObject({ type: "batch", events: 3, accepted: 0, duplicates: 3, attempt: 2 });
    expect(stats).toMatchObject({ added: 3, accepted: 0, duplicates: 3, retries: 1, batches: 1, queued: 0 });
    expect(await stored(f)).toEqual(ids.map((id, i) => [i + 1, id]));
  });

  it("retries Unavailable with capped exponential backoff and the same events until the server is back", async () => {
    fx = await createSessionFixture();
    const f = fx;
    let down = 4;
    f.fault.before = (c) => (c.method === "IngestEvents" && down-- > 0 ? new ConnectError("store down", Code.Unavailable) : undefined);
    const events: EventUploaderEvent[] = [];
    const up = createEventUploader(f.events, { clock: f.clock, lingerMs: 0, random: () => 0, backoff: { initialMs: 1000, maxMs: 4000 }, onEvent: (e) => events.push(e) });
    up.add({ id: "x", type: "t" });
    const flushed = up.flush();
    const retries = () => events.filter((e) => e.type === "retry").map((e) => (e.type === "retry" ? e.delayMs : 0));
    for (let n = 1; n <= 4; n++) {
      await until(() => retries().length === n);
      f.clock.advance(retries()[n - 1]!);
    }
    await flushed;
    expect(retries()).toEqual([500, 1000, 2000, 2000]);
    expect(batches(f)).toEqual([["x"], ["x"], ["x"], ["x"], ["x"]]);
    expect(await stored(f)).toEqual([[1, "x"]]);
  });

  it("overflow: add throws ERR_QUEUE_FULL and takes nothing; nothing queued is dropped; room returns after a flush", async () => {
    fx = await createSessionFixture();
    const f = fx;
    let down = true;
    f.fault.before = (c) => (c.method === "IngestEvents" && down ? new ConnectError("down", Code.Unavailable) : undefined);
    const events: EventUploaderEvent[] = [];
    const up = createEventUploader(f.events, { clock: f.clock, maxQueuedEvents: 5, maxBatchEvents: 2, lingerMs: 0, random: () => 0, onEvent: (e) => events.push(e) });
    for (let i = 0; i < 5; i++) {
      up.add({ id: `q${i}`, type: "t" });
    }
    await until(() => events.some((e) => e.type === "retry"));
    const err = thrown(() => up.add({ id: "q5", type: "t" }));
    expect(err).toBeInstanceOf(EventUploaderError);
    expect((err as EventUploaderError).code).toBe("ERR_QUEUE_FULL");
    expect(up.stats()).toMatchObject({ added: 5, queued: 5 });
    expect(up.unsent().map((e) => e.id)).toEqual(["q0", "q1", "q2", "q3", "q4"]);
    down = false;
    const flushed = up.flush();
    f.clock.advance(500);
    await flushed;
    expect(batches(f)).toEqual([["q0", "q1"], ["q0", "q1"], ["q2", "q3"], ["q4"]]);
    up.add({ id: "q5", type: "t" });
    await up.close();
    expect((await stored(f)).map(([, id]) => id)).toEqual(["q0", "q1", "q2", "q3", "q4", "q5"]);
  });

  it("InvalidArgument: only the poisoned event is dropped, with a report; the rest of its batch is stored; no loop", async () => {
    fx = await createSessionFixture({ eventService: { maxEventBytes: 1024 } });
    const f = fx;
    const events: EventUploaderEvent[] = [];
    // The client allows bigger events than this server: the server must find the culprit.
    const up = createEventUploader(f.events, { clock: f.clock, lingerMs: 0, maxBatchEvents: 8, onEvent: (e) => events.push(e) });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push(up.add({ id: `p${i}`, type: "t", attributes: { pad: i === 5 ? "x".repeat(2000) : "ok" } }));
    }
    const stats = await up.close();
    expect(stats).toMatchObject({ added: 8, accepted: 7, rejected: 1, duplicates: 0, queued: 0 });
    const rejected = events.filter((e) => e.type === "rejected");
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ type: "rejected", id: "p5", event: { id: "p5" }, error: { code: Code.InvalidArgument } });
    expect((await stored(f)).map(([, id]) => id)).toEqual(ids.filter((id) => id !== "p5"));
    // Halving: 8 → 4+4 → (2+2) → (1+1): a handful of calls, never a loop.
    expect(batches(f).length).toBeLessThanOrEqual(8);
  });

  it("add refuses what the server would refuse, synchronously: no type, oversized, long id", async () => {
    fx = await createSessionFixture();
    const up = createEventUploader(fx.events, { clock: fx.clock, maxEventBytes: 100 });
    const codeOf = (fn: () => unknown) => (thrown(fn) as EventUploaderError).code;
    expect(codeOf(() => up.add({ id: "x" }))).toBe("ERR_EVENT_INVALID");
    expect(codeOf(() => up.add({ type: "t", attributes: { a: "x".repeat(200) } }))).toBe("ERR_EVENT_INVALID");
    expect(codeOf(() => up.add({ type: "t", id: "i".repeat(257) }))).toBe("ERR_EVENT_INVALID");
    expect(codeOf(() => up.add(null as never))).toBe("ERR_EVENT_INVALID");
    expect(up.stats().added).toBe(0);
  });

  it("never modifies the caller's event, and fills occur_time from the clock", async () => {
    fx = await createSessionFixture();
    const up = createEventUploader(fx.events, { clock: fx.clock, lingerMs: 0 });
    const mine = create(EventSchema, { type: "t" });
    const id = up.add(mine);
    expect(mine.id).toBe("");
    expect(mine.occurTime).toBeUndefined();
    await up.flush();
    const [record] = await fx.eventStore.list({ subject: fx.subject, afterSequence: 0, limit: 1 });
    expect(record!.id).toBe(id);
  });

  it("a terminal failure (session revoked) stops uploads, rejects flush, and keeps every event in unsent(); resume() after a new login sends them", async () => {
    fx = await createSessionFixture();
    const f = fx;
    const events: EventUploaderEvent[] = [];
    const up = createEventUploader(f.events, { clock: f.clock, lingerMs: 0, onEvent: (e) => events.push(e) });
    up.add({ id: "before", type: "t" });
    await up.flush();
    await f.tokens.revokeToken({ token: f.pair.refreshToken });
    // The revocation reaches the auth interceptor's cache; the next call's forced refresh finds the family revoked.
    f.clock.advance(10_000);
    up.add({ id: "r1", type: "t" });
    up.add({ id: "r2", type: "t" });
    const err = await up.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventUploaderError);
    expect((err as EventUploaderError).code).toBe("ERR_UPLOADER_FAILED");
    expect(events.at(-1)).toMatchObject({ type: "failed", unsent: 2 });
    expect(up.unsent().map((e) => e.id)).toEqual(["r1", "r2"]);
    expect((thrown(() => up.add({ type: "t" })) as EventUploaderError).code).toBe("ERR_UPLOADER_FAILED");
    expect((await stored(f)).map(([, id]) => id)).toEqual(["before"]);

    // A new login for the same subject, then resume: the same ids go out.
    const fresh = await f.issue({ subject: f.subject, scopes: ["events:write"], accessTokenTtlSeconds: 3600n });
    await f.source.setToken({
      accessToken: fresh.accessToken,
      refreshToken: fresh.refreshToken,
      receivedAt: f.clock.now(),
      expiresAt: f.clock.now() + 3_600_000,
    });
    up.resume();
    await up.close();
    expect((await stored(f)).map(([, id]) => id)).toEqual(["before", "r1", "r2"]);
  });

  it("PermissionDenied (no events:write) is terminal too", async () => {
    fx = await createSessionFixture({ scopes: ["events:read"] });
    const up = createEventUploader(fx.events, { clock: fx.clock, lingerMs: 0 });
    up.add({ id: "x", type: "t" });
    const err = (await up.flush().catch((e: unknown) => e)) as EventUploaderError;
    expect(err.code).toBe("ERR_UPLOADER_FAILED");
    expect((err.cause as ConnectError).code).toBe(Code.PermissionDenied);
    expect(up.unsent().map((e) => e.id)).toEqual(["x"]);
  });

  it("abort cancels the call in flight, rejects flush with ERR_UPLOADER_CLOSED, keeps the events in unsent()", async () => {
    let calls = 0;
    const transport = createRouterTransport((router) =>
      router.service(EventService, {
        ingestEvents: (_req, ctx) => {
          calls++;
          return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        },
      }),
    );
    const ac = new AbortController();
    const up = createEventUploader(createClient(EventService, transport), { lingerMs: 0, signal: ac.signal });
    up.add({ id: "a", type: "t" });
    const flushed = up.flush().catch((e: unknown) => e);
    await until(() => calls === 1);
    ac.abort();
    expect(((await flushed) as EventUploaderError).code).toBe("ERR_UPLOADER_CLOSED");
    expect(up.unsent().map((e) => e.id)).toEqual(["a"]);
    expect((thrown(() => up.add({ type: "t" })) as EventUploaderError).code).toBe("ERR_UPLOADER_CLOSED");
  });

  it("close drains, then refuses new events; flush on an empty uploader resolves at once", async () => {
    fx = await createSessionFixture();
    const up = createEventUploader(fx.events, { clock: fx.clock });
    expect((await up.flush()).queued).toBe(0);
    up.add({ id: "last", type: "t" });
    const closing = up.close();
    expect((thrown(() => up.add({ type: "t" })) as EventUploaderError).code).toBe("ERR_UPLOADER_CLOSED");
    expect(await closing).toMatchObject({ accepted: 1, queued: 0 });
    expect(await up.close()).toMatchObject({ accepted: 1 });
  });

  it("validates options at construction", () => {
    const client = createClient(EventService, createRouterTransport(() => {}));
    expect(() => createEventUploader({} as never)).toThrow(/EventService client/);
    expect(() => createEventUploader(client, { maxBatchEvents: 1001 })).toThrow(/"maxBatchEvents"/);
    expect(() => createEventUploader(client, { maxQueuedEvents: 0 })).toThrow(/"maxQueuedEvents"/);
    expect(() => createEventUploader(client, { lingerMs: -1 })).toThrow(/"lingerMs"/);
    expect(() => createEventUploader(client, { timeoutMs: 0 })).toThrow(/"timeoutMs"/);
    expect(() => createEventUploader(client, { generateId: "x" as never })).toThrow(/"generateId"/);
    expect(() => createEventUploader(client, { signal: {} as never })).toThrow(/"signal"/);
  });
});

import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { EventService, WatchEventsRequest } from "../../gen/tokenkit/v1/event_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { WatchEventsRequestSchema } from "../../gen/tokenkit/v1/event_service_pb.js";
import { authErrorReason } from "../../src/auth-error.js";
import { toBinary } from "@bufbuild/protobuf";
import { EventSchema } from "../../gen/tokenkit/v1/event_service_pb.js";
import { createEventService, STREAM_CHUNK_BYTES } from "../../src/server/services/event-service.js";
import { createMemoryEventStore } from "../../src/server/store/memory-event-store.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { until } from "../helpers/manual-clock.js";
import { ADMIN, ALL_SCOPES, event, startSessionServer, type SessionServer } from "./session-server.js";

let s: SessionServer | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

/** A watch running in the background: what it received and how it ended. */
function watch(client: Client<typeof EventService>, req: MessageInitShape<typeof WatchEventsRequestSchema> = {}) {
  const abort = new AbortController();
  const w = { sequences: [] as number[], ids: [] as string[], error: undefined as ConnectError | undefined, done: false, abort: () => abort.abort() };
  void (async () => {
    try {
      for await (const m of client.watchEvents(req, { signal: abort.signal })) {
        w.sequences.push(Number(m.sequence));
        w.ids.push(m.event!.id);
      }
    } catch (err) {
      w.error = ConnectError.from(err);
    } finally {
      w.done = true;
    }
  })();
  return w;
}

async function stored(subject: string): Promise<string[]> {
  return (await s!.eventStore.list({ subject, afterSequence: 0, limit: 10_000 })).map((e) => e.id);
}

describe("EventService", () => {
  it("ingests idempotently: the same batch twice reports all duplicates and is stored once", async () => {
    s = await startSessionServer();
    const events = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    const batch = { events: [event("e1"), event("e2"), event("e3")] };
    expect(await events.ingestEvents(batch)).toMatchObject({ acceptedCount: 3, duplicateCount: 0 });
    expect(await events.ingestEvents(batch)).toMatchObject({ acceptedCount: 0, duplicateCount: 3 });
    expect(await stored("alice")).toEqual(["e1", "e2", "e3"]);
  });

  it("rejects a batch with one bad event naming its index, and stores nothing of it", async () => {
    s = await startSessionServer();
    const events = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    const missingId = await expectConnectError(events.ingestEvents({ events: [event("a"), event("b"), event("")] }), Code.InvalidArgument);
    expect(missingId.message).toMatch(/events\[2\]: id is required/);
    const missingType = await expectConnectError(events.ingestEvents({ events: [event("a"), event("b", "")] }), Code.InvalidArgument);
    expect(missingType.message).toMatch(/events\[1\]: type is required/);
    const big = await expectConnectError(events.ingestEvents({ events: [event("a", "t", { blob: "x".repeat(70_000) })] }), Code.InvalidArgument);
    expect(big.message).toMatch(/events\[0\] is \d+ bytes encoded, over the limit of 65536/);
    const many = await expectConnectError(events.ingestEvents({ events: Array.from({ length: 1001 }, (_, i) => event(`e${i}`)) }), Code.InvalidArgument);
    expect(many.message).toMatch(/1001 entries, over the limit of 1000/);
    expect(await stored("alice")).toEqual([]);
    expect(await events.ingestEvents({ events: Array.from({ length: 1000 }, (_, i) => event(`e${i}`)) })).toMatchObject({ acceptedCount: 1000 });
  });

  it("needs events:write to ingest and events:read to watch", async () => {
    s = await startSessionServer();
    const readOnly = s.events((await s.issue("alice", ["events:read"])).accessToken);
    await expectConnectError(readOnly.ingestEvents({ events: [event("a")] }), Code.PermissionDenied, AuthErrorReason.INSUFFICIENT_SCOPE);
    const writeOnly = watch(s.events((await s.issue("alice", ["events:write"])).accessToken));
    await until(() => writeOnly.done);
    expect(writeOnly.error?.code).toBe(Code.PermissionDenied);
    expect(authErrorReason(writeOnly.error)).toBe(AuthErrorReason.INSUFFICIENT_SCOPE);
  });

  it("isolates subjects: the same ids are separate events, and a watch sees only its subject's", async () => {
    s = await startSessionServer();
    const alice = s.events((await s.issue("alice", [...ALL_SCOPES, "tokens:exchange"])).accessToken);
    const bob = s.events((await s.issue("bob", ALL_SCOPES)).accessToken);
    await alice.ingestEvents({ events: [event("shared", "t", { owner: "alice" }), event("a-only")] });
    expect(await bob.ingestEvents({ events: [event("shared", "t", { owner: "bob" })] })).toMatchObject({ acceptedCount: 1, duplicateCount: 0 });
    const w = watch(bob);
    await until(() => w.sequences.length === 1);
    expect(w.ids).toEqual(["shared"]);
    expect(await stored("bob")).toEqual(["shared"]);
    w.abort();

    // A delegated token acts for its principal: the agent's events are alice's.
    const aliceToken = (await s.issue("alice", [...ALL_SCOPES, "tokens:exchange"])).accessToken;
    const child = await s.tokens.exchangeToken({ actor: "agent-7", scopes: ["events:write"] }, { headers: { authorization: `Bearer ${aliceToken}` } });
    await s.events(child.tokenPair!.accessToken).ingestEvents({ events: [event("from-agent")] });
    expect(await stored("alice")).toEqual(["shared", "a-only", "from-agent"]);
    expect(await stored("agent-7")).toEqual([]);
  });

  it("watches the backlog, then live events, filtered by type, in sequence order", async () => {
    s = await startSessionServer();
    const pair = await s.issue("alice", ALL_SCOPES);
    const events = s.events(pair.accessToken);
    await events.ingestEvents({ events: [event("1", "x"), event("2", "y"), event("3", "x")] });
    const all = watch(events, { afterSequence: 1n });
    const onlyX = watch(events, { types: ["x"] });
    await until(() => all.sequences.length === 2 && onlyX.sequences.length === 2);
    await events.ingestEvents({ events: [event("4", "y"), event("5", "x")] });
    await until(() => all.sequences.length === 4 && onlyX.sequences.length === 3);
    expect(all.sequences).toEqual([2, 3, 4, 5]);
    expect(onlyX.ids).toEqual(["1", "3", "5"]);
    expect(all.done || onlyX.done).toBe(false);
    all.abort();
    onlyX.abort();
    await until(() => all.done && onlyX.done);
    expect(all.error?.code).toBe(Code.Canceled);
  });

  for (const protocol of ["connect", "grpc"] as const) {
    it(`ends a watch with TOKEN_EXPIRED when its token expires; resuming after the last sequence loses and repeats nothing (${protocol})`, async () => {
      s = await startSessionServer();
      const writer = s.events((await s.issue("alice", ALL_SCOPES, 86_400)).accessToken);
      const short = await s.issue("alice", ALL_SCOPES, 120);
      await writer.ingestEvents({ events: [event("1"), event("2"), event("3")] });
      const first = watch(s.events(short.accessToken, protocol));
      await until(() => first.sequences.length === 3);
      s.clock.advance(119_000);
      await writer.ingestEvents({ events: [event("4")] });
      await until(() => first.sequences.length === 4);
      expect(first.done).toBe(false);
      s.clock.advance(1_000);
      await until(() => first.done);
      expect(first.error?.code).toBe(Code.Unauthenticated);
      expect(authErrorReason(first.error)).toBe(AuthErrorReason.TOKEN_EXPIRED);
      expect(first.error?.message).toMatch(/after sequence 4/);
      expect(first.error?.message).not.toContain(short.accessToken);

      await writer.ingestEvents({ events: [event("5"), event("6")] });
      const fresh = await s.issue("alice", ALL_SCOPES, 120);
      const second = watch(s.events(fresh.accessToken, protocol), { afterSequence: BigInt(first.sequences.at(-1)!) });
      await until(() => second.sequences.length === 2);
      await writer.ingestEvents({ events: [event("7")] });
      await until(() => second.sequences.length === 3);
      expect([...first.sequences, ...second.sequences]).toEqual([1, 2, 3, 4, 5, 6, 7]);
      second.abort();
    });
  }

  it("ends the watches of a revoked session with TOKEN_REVOKED within a poll interval", async () => {
    s = await startSessionServer();
    const pair = await s.issue("alice", ALL_SCOPES);
    const events = s.events(pair.accessToken);
    const w = watch(events);
    await events.ingestEvents({ events: [event("1")] });
    await until(() => w.sequences.length === 1);
    await s.tokens.revokeToken({ token: pair.refreshToken });
    for (let i = 0; i < 4 && !w.done; i++) {
      s.clock.advance(1_000); // the revocation cache polls, then the watch wakes
      await until(() => w.done, 20_000).catch(() => undefined);
    }
    expect(w.error?.code).toBe(Code.Unauthenticated);
    expect(authErrorReason(w.error)).toBe(AuthErrorReason.TOKEN_REVOKED);
  });

  it("ends open watches with Unavailable when the server shuts down, so draining does not wait for them", async () => {
    s = await startSessionServer({ drainTimeoutSeconds: 3600 });
    const events = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    const w = watch(events);
    await events.ingestEvents({ events: [event("1")] });
    await until(() => w.sequences.length === 1);
    await s.close();
    await until(() => w.done);
    expect(w.error?.code).toBe(Code.Unavailable);
    expect(w.error?.message).toMatch(/shutting down; resume the watch after sequence 1/);
  });

  it("stores a client stream in chunks, counting duplicates; a bad message is named by its index", async () => {
    s = await startSessionServer({ sessionServices: { maxBatchEvents: 2 } });
    const events = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    async function* send(ids: string[]) {
      for (const id of ids) {
        yield { event: event(id) };
      }
    }
    expect(await events.streamEvents(send(["a", "b", "c", "a", "d"]))).toMatchObject({ acceptedCount: 4, duplicateCount: 1 });
    const bad = await expectConnectError(events.streamEvents(send(["e", "f", "g", ""])), Code.InvalidArgument);
    expect(bad.message).toMatch(/message 3: id is required/);
    // The chunk before the bad message was stored; re-sending it is harmless.
    expect(await stored("alice")).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(await events.streamEvents(send(["e", "f", "g"]))).toMatchObject({ acceptedCount: 1, duplicateCount: 2 });
  });

  it("stores a client stream in chunks bounded by bytes too, so a stream of large events never piles up", async () => {
    s = await startSessionServer();
    const events = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    const big = (id: string) => event(id, "t", { blob: "x".repeat(60_000) });
    const perChunk = Math.ceil(STREAM_CHUNK_BYTES / toBinary(EventSchema, big("b00")).byteLength);
    expect(perChunk).toBe(18); // 1 MiB of ~60 KB events
    const ids = Array.from({ length: 2 * perChunk + 1 }, (_, i) => `b${String(i).padStart(2, "0")}`);
    async function* send() {
      for (const id of ids) yield { event: big(id) };
      yield { event: event("") };
    }
    const bad = await expectConnectError(events.streamEvents(send()), Code.InvalidArgument);
    expect(bad.message).toMatch(new RegExp(`message ${ids.length}: id is required`));
    // Two full chunks were stored as the stream went (far fewer than maxBatchEvents = 1000 events).
    expect(await stored("alice")).toEqual(ids.slice(0, 2 * perChunk));
  });

  it("validates watch requests and its options", async () => {
    s = await startSessionServer();
    const events = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    const neg = watch(events, { afterSequence: -1n });
    const badTypes = watch(events, { types: [""] });
    await until(() => neg.done && badTypes.done);
    expect(neg.error?.code).toBe(Code.InvalidArgument);
    expect(neg.error?.message).toMatch(/after_sequence/);
    expect(badTypes.error?.code).toBe(Code.InvalidArgument);
    const store = createMemoryEventStore();
    expect(() => createEventService({ store: {} as never })).toThrow(/option "store"/);
    expect(() => createEventService({ store, maxEventBytes: 0 })).toThrow(/option "maxEventBytes"/);
    expect(() => createEventService({ store, maxBatchEvents: 1.5 })).toThrow(/option "maxBatchEvents"/);
    expect(() => createEventService({ store, pollIntervalMs: -1 })).toThrow(/option "pollIntervalMs"/);
    expect(() => createEventService({ store, signal: {} as never })).toThrow(/option "signal"/);
    expect(() => createEventService({ store, maxWatchPageBytes: 0 })).toThrow(/option "maxWatchPageBytes"/);
    expect(() => createEventService({ store, maxWatchesPerSubject: 2.5 })).toThrow(/option "maxWatchesPerSubject"/);
    expect(ADMIN.length).toBeGreaterThan(16);
  });
});

// Keep the type import used for readers: WatchEventsRequest is what `watch` sends.
export type { WatchEventsRequest };

import { create, toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { EventSchema, EventService, type Event } from "../../gen/tokenkit/v1/event_service_pb.js";
import { MAX_DATA_DEPTH } from "../../src/server/services/event-validation.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { until } from "../helpers/manual-clock.js";
import { ALL_SCOPES, event, startSessionServer, type SessionServer } from "../services/session-server.js";

// A delegated token with only events:write must not be able to store an event that a watcher
// cannot receive: everything a JSON WatchEvents could not encode is refused at ingest, over the
// binary encodings that can carry it (Connect + application/proto is what the issue used; gRPC too).

let s: SessionServer | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const YEAR_11476 = 299_999_999_999n;
const FIRST_SECOND = -62_135_596_800n; // 0001-01-01T00:00:00Z
const LAST_SECOND = 253_402_300_799n; // 9999-12-31T23:59:59Z

function withData(id: string, data: JsonObject): Event {
  return create(EventSchema, { id, type: "t", data });
}
function nested(depth: number, leaf: JsonValue = 1): JsonObject {
  // depth 1 is `{a: leaf}`; each level wraps it in one more object.
  let s: JsonObject = { a: leaf };
  for (let i = 1; i < depth; i++) {
    s = { a: s };
  }
  return s;
}

function binaryClients(server: SessionServer, token: string): [string, Client<typeof EventService>][] {
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  return [
    ["Connect binary", createClient(EventService, createConnectBinary(server, bearer))],
    ["gRPC", createClient(EventService, createGrpcTransport({ baseUrl: server.server.url, interceptors: [bearer] }))],
  ];
}

function createConnectBinary(server: SessionServer, bearer: Interceptor) {
  return createConnectTransport({ baseUrl: server.server.url, httpVersion: "2", useBinaryFormat: true, interceptors: [bearer] });
}

// Each poison goes over the binary encodings (JSON cannot even carry NaN or year 11476), except
// the deep one: binary decoding stops it first, while JSON decoding lets it through to validation.
/** Watches from the start until `n` events arrived (or the watch ended), then cancels it. */
async function firstOf(client: Client<typeof EventService>, n: number) {
  const abort = new AbortController();
  const got: [string, number][] = [];
  let error: ConnectError | undefined;
  const done = (async () => {
    try {
      for await (const m of client.watchEvents({}, { signal: abort.signal })) {
        got.push([m.event!.id, Number(m.sequence)]);
      }
    } catch (err) {
      error = ConnectError.from(err);
    }
  })();
  await until(() => got.length >= n || error !== undefined);
  abort.abort();
  await done;
  return { got, error };
}

const POISON: [string, Event, RegExp][] = [
  ["occur_time in year 11476", create(EventSchema, { id: "p", type: "t", occurTime: { seconds: YEAR_11476 } }), /events\[1\]: occur_time .*0001-01-01.*9999-12-31/],
  ["occur_time before year 1", create(EventSchema, { id: "p", type: "t", occurTime: { seconds: FIRST_SECOND - 1n } }), /events\[1\]: occur_time/],
  ["occur_time nanos -1", create(EventSchema, { id: "p", type: "t", occurTime: { seconds: 0n, nanos: -1 } }), /events\[1\]: occur_time nanos -1/],
  ["occur_time nanos 1e9", create(EventSchema, { id: "p", type: "t", occurTime: { seconds: 0n, nanos: 1_000_000_000 } }), /events\[1\]: occur_time nanos 1000000000/],
  ["NaN in data", withData("p", { x: NaN }), /events\[1\]: data\.x is NaN/],
  ["Infinity in a list", withData("p", { l: [1, Infinity] }), /events\[1\]: data\.l\[1\] is Infinity/],
  ["-Infinity deep down, under an odd key", withData("p", { "odd key": nested(4, -Infinity) }), /events\[1\]: data\["odd key"\]\.a\.a\.a\.a is -Infinity/],
];

describe("IngestEvents refuses what a JSON watcher could not receive", () => {
  it.each(POISON)("%s → InvalidArgument naming events[i] and the field; nothing of the batch is stored", async (_, poison, message) => {
    s = await startSessionServer();
    const token = (await s.issue("alice", ["events:write"])).accessToken;
    for (const [name, client] of binaryClients(s, token)) {
      const err = await expectConnectError(client.ingestEvents({ events: [event("ok"), poison, event("ok2")] }), Code.InvalidArgument);
      expect(err.message, name).toMatch(message);
    }
    expect(await s.eventStore.list({ subject: "alice", afterSequence: 0, limit: 10 })).toEqual([]);
  });

  it(`data nested ${MAX_DATA_DEPTH + 1} deep (over JSON, which decodes it) → InvalidArgument naming the field`, async () => {
    s = await startSessionServer();
    const json = s.events((await s.issue("alice", ["events:write"])).accessToken);
    const err = await expectConnectError(json.ingestEvents({ events: [event("ok"), withData("p", { list: [nested(MAX_DATA_DEPTH)] })] }), Code.InvalidArgument);
    expect(err.message).toMatch(new RegExp(`events\\[1\\]: data\\.list\\[0\\](\\.a)+ nests deeper than ${MAX_DATA_DEPTH} levels`));
    expect(await s.eventStore.list({ subject: "alice", afterSequence: 0, limit: 10 })).toEqual([]);
  });

  it("StreamEvents names the message that carries a poison event", async () => {
    s = await startSessionServer();
    const token = (await s.issue("alice", ["events:write"])).accessToken;
    for (const [name, client] of binaryClients(s, token)) {
      async function* send() {
        yield { event: event(`a-${name}`) };
        yield { event: withData("p", { x: NaN }) };
      }
      const err = await expectConnectError(client.streamEvents(send()), Code.InvalidArgument);
      expect(err.message, name).toMatch(/message 1: data\.x is NaN/);
    }
  });

  it("accepts the boundaries, and a JSON watcher receives them", async () => {
    s = await startSessionServer();
    const pair = await s.issue("alice", ALL_SCOPES);
    const [, binary] = binaryClients(s, pair.accessToken)[0]!;
    const edges = [
      create(EventSchema, { id: "first", type: "t", occurTime: { seconds: FIRST_SECOND, nanos: 0 } }),
      create(EventSchema, { id: "last", type: "t", occurTime: { seconds: LAST_SECOND, nanos: 999_999_999 } }),
      withData("deep", nested(MAX_DATA_DEPTH)),
      withData("numbers", { max: Number.MAX_VALUE, min: -Number.MAX_VALUE, zero: -0, list: [[[null]]] }),
    ];
    expect(await binary.ingestEvents({ events: edges })).toMatchObject({ acceptedCount: 4 });
    const watchers: [string, Client<typeof EventService>][] = [["Connect JSON", s.events(pair.accessToken)], ...binaryClients(s, pair.accessToken)];
    for (const [name, client] of watchers) {
      const { got, error } = await firstOf(client, 4);
      expect(got.map(([id]) => id), name).toEqual(["first", "last", "deep", "numbers"]);
      expect(error?.code, name).toBe(Code.Canceled);
    }
  });
});

describe("a poison event already in the store", () => {
  it("is skipped with a log line: JSON and binary watchers receive the rest and never loop on Internal", async () => {
    const lines: string[] = [];
    const logger = { warn: (m: string) => lines.push(m), info: () => {}, error: (m: string) => lines.push(m) };
    s = await startSessionServer({ logger });
    const pair = await s.issue("alice", ALL_SCOPES);
    const poison = create(EventSchema, { id: "poison", type: "t", occurTime: { seconds: YEAR_11476 }, data: { n: 1 } });
    // Written straight to the store, as an older release (or another writer) could have.
    await s.eventStore.append("alice", [{ id: "good1", type: "t", payload: toBinary(EventSchema, event("good1")) }], 0);
    await s.eventStore.append("alice", [{ id: "poison", type: "t", payload: toBinary(EventSchema, poison) }], 0);
    await s.eventStore.append("alice", [{ id: "good2", type: "t", payload: toBinary(EventSchema, event("good2")) }], 0);

    const clients: [string, Client<typeof EventService>][] = [["Connect JSON", s.events(pair.accessToken)], ...binaryClients(s, pair.accessToken)];
    for (const [name, client] of clients) {
      const { got, error } = await firstOf(client, 2);
      expect(got, name).toEqual([["good1", 1], ["good2", 3]]);
      expect(error?.code, name).toBe(Code.Canceled);
    }
    expect(lines.some((l) => /skipped stored event 2 .*occur_time/.test(l))).toBe(true);
    expect(lines.join("\n")).not.toContain(pair.accessToken);
  });
});

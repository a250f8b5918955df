import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { EventSchema, EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { isSessionExpired } from "../../src/client/token-source.js";
import { watchEvents, type WatchEventsEvent, type WatchEventsStream } from "../../src/client/watch-events.js";
import { createManualClock, until } from "../helpers/manual-clock.js";
import { createSessionFixture, type SessionFixture } from "../helpers/session-fixture.js";

let fx: SessionFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Iterates `watch` in the background, collecting sequences; `ended` settles when the iteration does. */
function consume(watch: WatchEventsStream) {
  const seen: bigint[] = [];
  const ended = (async () => {
    for await (const m of watch) {
      seen.push(m.sequence);
    }
  })();
  ended.catch(() => {});
  return { seen, ended };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));

let nextId = 0;
async function ingest(f: SessionFixture, n: number): Promise<void> {
  const events = Array.from({ length: n }, () => ({ id: `ev-${++nextId}`, type: "tick" }));
  await f.events.ingestEvents({ events });
}

/**
 * A client interceptor (outside authentication) that kills the first
 * `cuts.length` watch streams after `cuts[i]` messages, as a dropped
 * connection does: the rest of that stream never arrives.
 */
function killStreams(cuts: number[]): Interceptor {
  let stream = 0;
  return (next) => async (req) => {
    const res = await next(req);
    if (!req.stream || req.method.name !== "WatchEvents") {
      return res;
    }
    const cut = cuts[stream++];
    if (cut === undefined) {
      return res;
    }
    const inner = (res as StreamResponse).message;
    async function* cutOff() {
      let n = 0;
      for await (const m of inner) {
        if (n++ === cut) {
          throw new ConnectError("stream reset: connection lost", Code.Unavailable);
        }
        yield m;
      }
      throw new ConnectError("stream reset: connection lost", Code.Unavailable);
    }
    return { ...(res as StreamResponse), message: cutOff() } as StreamResponse;
  };
}

describe("watchEvents against the real EventService", () => {
  it("resumes across many token expiries with a fresh token: every sequence exactly once, in order", async () => {
    fx = await createSessionFixture({ accessTtlSeconds: 60 });
    const f = fx;
    const events: WatchEventsEvent[] = [];
    await ingest(f, 5);
    const watch = watchEvents(f.events, { clock: f.clock, onEvent: (e) => events.push(e) });
    const { seen } = consume(watch);
    await until(() => seen.length === 5);
    // Ten minutes in 15 s steps, three events per step: ten access tokens expire under the open watch.
    for (let step = 1; step <= 40; step++) {
      await f.settle();
      f.clock.advance(15_000);
      await ingest(f, 3);
      await until(() => seen.length === 5 + 3 * step);
    }
    expect(seen).toEqual(range(1, 125));
    const reconnects = events.filter((e) => e.type === "reconnect");
    expect(reconnects.length).toBeGreaterThanOrEqual(9);
    // Every reopen after an expiry is immediate, from the last sequence seen.
    for (const r of reconnects) {
      expect(r).toMatchObject({ type: "reconnect", cause: "token_expired", delayMs: 0 });
      expect(r.type === "reconnect" && r.error?.code).toBe(Code.Unauthenticated);
    }
    expect(events.some((e) => e.type === "duplicate")).toBe(false);
    expect(watch.lastSequence).toBe(125n);
    // Each resumed stream carried a token the server accepted: no watch ever failed authentication on open.
    expect(f.source.state).toBe("active");
  });

  it("resumes across killed connections with backoff: no gap, no duplicate", async () => {
    fx = await createSessionFixture({ clientInterceptors: [killStreams([3, 0, 4])] });
    const f = fx;
    await ingest(f, 10);
    const events: WatchEventsEvent[] = [];
    const watch = watchEvents(f.events, { clock: f.clock, random: () => 0, onEvent: (e) => events.push(e) });
    const { seen } = consume(watch);
    const reconnects = () => events.filter((e) => e.type === "reconnect");
    await until(() => reconnects().length === 1);
    expect(seen).toEqual(range(1, 3));
    expect(reconnects()[0]).toMatchObject({ cause: "transient_error", attempt: 1, delayMs: 500, afterSequence: 3n });
    f.clock.advance(500);
    // The second stream dies before any message: the backoff grows.
    await until(() => reconnects().length === 2);
    expect(reconnects()[1]).toMatchObject({ cause: "transient_error", attempt: 2, delayMs: 1000, afterSequence: 3n });
    f.clock.advance(1000);
    // The third delivers four, then dies: an event in between resets the backoff.
    await until(() => reconnects().length === 3);
    expect(seen).toEqual(range(1, 7));
    expect(reconnects()[2]).toMatchObject({ attempt: 1, delayMs: 500, afterSequence: 7n });
    f.clock.advance(500);
    await until(() => seen.length === 10);
    await ingest(f, 2);
    await until(() => seen.length === 12);
    expect(seen).toEqual(range(1, 12));
    expect(watch.reconnects).toBe(3);
  });

  it("over real HTTP/2: resumes after the server's connections are destroyed, with no gap and no duplicate", async () => {
    fx = await createSessionFixture({ http2: true });
    const f = fx;
    await ingest(f, 5);
    const events: WatchEventsEvent[] = [];
    const watch = watchEvents(f.events, { clock: f.clock, random: () => 0, onEvent: (e) => events.push(e) });
    const { seen } = consume(watch);
    await until(() => seen.length === 5);
    for (let kill = 1; kill <= 3; kill++) {
      f.killConnections();
      await until(() => events.filter((e) => e.type === "reconnect").length === kill);
      // Events stored while the watch is down are delivered after it reopens.
      await ingest(f, 2);
      await f.settle();
      f.clock.advance(500);
      await until(() => seen.length === 5 + 2 * kill);
    }
    expect(seen).toEqual(range(1, 11));
    expect(watch.reconnects).toBe(3);
    expect(events.filter((e) => e.type === "reconnect").every((e) => e.type === "reconnect" && e.cause === "transient_error")).toBe(true);
    expect(events.some((e) => e.type === "duplicate")).toBe(false);
  });

  it("starts after afterSequence and filters by types", async () => {
    fx = await createSessionFixture();
    const f = fx;
    await f.events.ingestEvents({
      events: [
        { id: "1", type: "a" },
        { id: "2", type: "b" },
        { id: "3", type: "a" },
        { id: "4", type: "a" },
      ],
    });
    const ac = new AbortController();
    const watch = watchEvents(f.events, { clock: f.clock, afterSequence: 1n, types: ["a"], signal: ac.signal });
    const { seen, ended } = consume(watch);
    await until(() => seen.length === 2);
    expect(seen).toEqual([3n, 4n]);
    ac.abort();
    await ended;
  });

  it("ends with the token source's session-expired error when the session is revoked mid-stream (one immediate reopen)", async () => {
    fx = await createSessionFixture();
    const f = fx;
    await ingest(f, 2);
    const events: WatchEventsEvent[] = [];
    const { seen, ended } = consume(watchEvents(f.events, { clock: f.clock, onEvent: (e) => events.push(e) }));
    await until(() => seen.length === 2);
    await f.tokens.revokeToken({ token: f.pair.refreshToken });
    // The server's watch notices the revocation at its next poll.
    f.clock.advance(5000);
    const err = await ended.then(
      () => undefined,
      (e: unknown) => e,
    );
    // The server ends the stream with TOKEN_REVOKED; one immediate reopen lets the token source learn
    // the session is over (its refresh fails for good), and that ends the watch.
    expect(isSessionExpired(err)).toBe(true);
    expect(f.source.state).toBe("session_expired");
    expect(events.filter((e) => e.type === "reconnect").map((e) => (e as { delayMs: number }).delayMs)).toEqual([0]);
  });

  it("a revoked session found on reopen ends the watch through the token source (session_expired, one reconnect)", async () => {
    fx = await createSessionFixture({ accessTtlSeconds: 60, clientInterceptors: [killStreams([1])] });
    const f = fx;
    await ingest(f, 2);
    const events: WatchEventsEvent[] = [];
    const { seen, ended } = consume(watchEvents(f.events, { clock: f.clock, random: () => 0, onEvent: (e) => events.push(e) }));
    await until(() => events.length === 1);
    expect(seen).toEqual([1n]);
    // The connection dropped; while the watch waits to reopen, the session is revoked.
    await f.tokens.revokeToken({ token: f.pair.refreshToken });
    f.clock.advance(5000);
    const err = await ended.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSessionExpired(err)).toBe(true);
    expect(f.source.state).toBe("session_expired");
    expect(events.filter((e) => e.type === "reconnect")).toHaveLength(1);
  });

  it("ends with PermissionDenied when the token lacks events:read", async () => {
    fx = await createSessionFixture({ scopes: ["events:write"] });
    const { ended } = consume(watchEvents(fx.events, { clock: fx.clock }));
    await expect(ended).rejects.toMatchObject({ code: Code.PermissionDenied });
  });
});

describe("watchEvents against a scripted server", () => {
  function scripted(script: (after: bigint, call: number) => bigint[]) {
    const clock = createManualClock();
    let calls = 0;
    const afters: bigint[] = [];
    const cancelled: boolean[] = [];
    const transport = createRouterTransport((router) =>
      router.service(EventService, {
        async *watchEvents(req, ctx) {
          const call = calls++;
          afters.push(req.afterSequence);
          cancelled[call] = false;
          ctx.signal.addEventListener("abort", () => (cancelled[call] = true));
          for (const s of script(req.afterSequence, call)) {
            yield { sequence: s, event: create(EventSchema, { id: `e${s}`, type: "t" }) };
          }
          if (call === 0) {
            throw new ConnectError("connection lost", Code.Unavailable);
          }
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        },
      }),
    );
    return { clock, client: createClient(EventService, transport), afters, cancelled, calls: () => calls };
  }

  it("skips sequences at or below the last one yielded, even when the server repeats them", async () => {
    // The second stream ignores after_sequence and starts over.
    const s = scripted((_after, call) => (call === 0 ? [1n, 2n, 3n] : [1n, 2n, 3n, 4n, 5n]));
    const events: WatchEventsEvent[] = [];
    const ac = new AbortController();
    const { seen, ended } = consume(watchEvents(s.client, { clock: s.clock, random: () => 0, signal: ac.signal, onEvent: (e) => events.push(e) }));
    await until(() => seen.length === 3 && s.clock.timers === 1);
    s.clock.advance(500);
    await until(() => seen.length === 5);
    expect(seen).toEqual(range(1, 5));
    expect(s.afters).toEqual([0n, 3n]);
    expect(events.filter((e) => e.type === "duplicate").map((e) => (e.type === "duplicate" ? e.sequence : 0n))).toEqual([1n, 2n, 3n]);
    ac.abort();
    await ended;
    await until(() => s.cancelled[1] === true);
  });

  it("breaking out of the loop cancels the open stream", async () => {
    const s = scripted((after) => [after + 1n, after + 2n]);
    for await (const m of watchEvents(s.client, { clock: s.clock, afterSequence: 10n })) {
      expect(m.sequence).toBe(11n);
      break;
    }
    await until(() => s.cancelled[0] === true);
    expect(s.calls()).toBe(1);
  });

  it("abort during the backoff pause ends the watch without another call", async () => {
    const s = scripted(() => []);
    const ac = new AbortController();
    const events: WatchEventsEvent[] = [];
    const { ended } = consume(watchEvents(s.client, { clock: s.clock, signal: ac.signal, onEvent: (e) => events.push(e) }));
    await until(() => events.length === 1);
    ac.abort();
    await ended;
    expect(s.calls()).toBe(1);
    expect(s.clock.timers).toBe(0);
  });

  it("gives up after maxConsecutiveFailures reopen attempts without an event", async () => {
    const clock = createManualClock();
    let calls = 0;
    const transport = createRouterTransport((router) =>
      router.service(EventService, {
        // eslint-disable-next-line require-yield
        async *watchEvents() {
          calls++;
          throw new ConnectError("down", Code.Unavailable);
        },
      }),
    );
    const events: WatchEventsEvent[] = [];
    const { ended } = consume(
      watchEvents(createClient(EventService, transport), { clock, random: () => 0, maxConsecutiveFailures: 2, onEvent: (e) => events.push(e) }),
    );
    await until(() => events.length === 1);
    clock.advance(500);
    await until(() => events.length === 2);
    clock.advance(1000);
    await expect(ended).rejects.toMatchObject({ code: Code.Unavailable });
    expect(calls).toBe(3);
  });

  it("validates options and single iteration", () => {
    const client = createClient(EventService, createRouterTransport(() => {}));
    expect(() => watchEvents({} as never)).toThrow(/EventService client/);
    expect(() => watchEvents(client, { afterSequence: 1 as never })).toThrow(/"afterSequence"/);
    expect(() => watchEvents(client, { afterSequence: -1n })).toThrow(/"afterSequence"/);
    expect(() => watchEvents(client, { types: [""] })).toThrow(/"types"/);
    expect(() => watchEvents(client, { backoff: { maxMs: 0 } })).toThrow(/"backoff.maxMs"/);
    expect(() => watchEvents(client, { maxConsecutiveFailures: 0 })).toThrow(/"maxConsecutiveFailures"/);
    const w = watchEvents(client);
    w[Symbol.asyncIterator]();
    expect(() => w[Symbol.asyncIterator]()).toThrow(/only once/);
  });
});

import { createClient, createRouterTransport, Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterEach, expect } from "vitest";
import { EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createAuthInterceptor } from "../../src/client/auth-interceptor.js";
import { createEventUploader } from "../../src/client/event-uploader.js";
import { startHeartbeats } from "../../src/client/heartbeats.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createTokenSource } from "../../src/client/token-source.js";
import { watchEvents } from "../../src/client/watch-events.js";
import type { Clock } from "../../src/lib/clock.js";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createRevocationCache } from "../../src/server/revocation-cache.js";
import { createTokenkitServer } from "../../src/server/serve/server.js";
import type { TokenkitServerContext } from "../../src/server/serve/service-registration.js";
import { sessionServices } from "../../src/server/services/session-services.js";
import { createMemoryEventStore } from "../../src/server/store/memory-event-store.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createTokenService } from "../../src/server/token-service.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

// The must-show of the session services (shared by the in-process and the h2c test files): a week of an agent's life — 1 h access tokens, a 24 h
// refresh TTL, a heartbeat every 30 s, an event every minute and a watch open throughout — with
// every token expiry and rotation on the way, on a manual clock.
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const STEP = 30_000;
const ADMIN = "seven-day-admin-key-0123456789";
const ISSUER = "http://tokenkit.week";
const SCOPES = ["heartbeat:write", "events:write", "events:read"];

export interface Scenario {
  /** transport under test: in-process router, or a real tokenkit server over h2c on loopback. */
  wire: "in-process" | "h2c";
  /** outage makes TokenService answer Unavailable for 10 minutes in the middle of the week. */
  outage?: boolean;
  /** serverAheadMs runs the server's clock ahead of the client's. */
  serverAheadMs?: number;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(scenario: Scenario, clock: ReturnType<typeof createManualClock>) {
  const serverClock: Clock = { ...clock, now: () => clock.now() + (scenario.serverAheadMs ?? 0) };
  // The outage starts mid-week exactly when the client next tries to refresh (the worst moment) and lasts 10 minutes.
  const midWeek = clock.now() + WEEK / 2;
  let outageFrom: number | undefined;
  const counts = { refreshRpcs: 0, refreshRejected: 0 };
  // Server side: counts RefreshToken RPCs and, in the outage window, fails them like a token service that is down.
  const tokenServiceFaults: Interceptor = (next) => async (req) => {
    if (req.service.typeName !== TokenService.typeName || req.method.name !== "RefreshToken") {
      return next(req);
    }
    const t = clock.now();
    if (scenario.outage && t >= midWeek) {
      outageFrom ??= t;
    }
    if (outageFrom !== undefined && t < outageFrom + 10 * 60_000) {
      counts.refreshRejected++;
      throw new ConnectError("token service down for maintenance", Code.Unavailable);
    }
    counts.refreshRpcs++;
    return next(req);
  };
  const eventStore = createMemoryEventStore();
  // The watch polls the store once a minute (appends wake it at once), which keeps a week of fake time cheap.
  const session = { pollIntervalMs: 60_000 };
  if (scenario.wire === "h2c") {
    const server = await createTokenkitServer({
      port: 0,
      store: "memory",
      eventStore,
      adminKey: ADMIN,
      issuer: ISSUER,
      clock: serverClock,
      interceptors: [tokenServiceFaults],
      sessionServices: session,
    });
    cleanups.push(() => server.close());
    return { counts, eventStore, makeTransport: (interceptors: Interceptor[]) => createConnectTransport({ baseUrl: server.url, httpVersion: "2", interceptors }) };
  }
  const store = createMemoryFamilyStore();
  const keyRing = await createKeyRing({ store: createMemoryKeyStore(), clock: serverClock });
  const revocations = createRevocationCache({ store, clock: serverClock });
  cleanups.push(() => revocations.close());
  const context: TokenkitServerContext = { issuer: ISSUER, audience: ISSUER, keyRing, store, eventStore, interceptors: [tokenServiceFaults], revocations, clock: serverClock };
  const services = sessionServices(session);
  return {
    counts,
    eventStore,
    makeTransport: (interceptors: Interceptor[]): Transport =>
      createRouterTransport(
        (router) => {
          router.service(TokenService, createTokenService({ store, keyRing, issuer: ISSUER, adminKey: ADMIN, revocations, clock: serverClock }));
          for (const s of services) s.register(router, context);
        },
        { transport: { interceptors }, router: { interceptors: [tokenServiceFaults] } },
      ),
  };
}

async function liveAWeek(scenario: Scenario) {
  const clock = createManualClock(Date.UTC(2026, 10, 23, 9));
  const server = await serve(scenario, clock);

  const issued = (
    await createClient(TokenService, server.makeTransport([])).issueToken(
      { subject: "agent", scopes: SCOPES, accessTokenTtlSeconds: 3600n, refreshTokenTtlSeconds: 86_400n },
      { headers: { "x-api-key": ADMIN } },
    )
  ).tokenPair!;

  // The client: one transport for refreshes and calls; the outermost interceptor sees what the application sees.
  let inFlight = 0;
  const appFailures: string[] = [];
  const observer: Interceptor = (next) => async (req) => {
    if (req.stream) return next(req);
    inFlight++;
    try {
      return await next(req);
    } catch (err) {
      if (req.method.name !== "RefreshToken") appFailures.push(`${req.method.name}: ${ConnectError.from(err).message}`);
      throw err;
    } finally {
      inFlight--;
    }
  };
  const sourceEvents: TokenSourceEvent[] = [];
  const interceptors: Interceptor[] = [observer];
  const transport = server.makeTransport(interceptors);
  const source = createTokenSource({
    refresh: createTokenServiceRefresher(transport, { clock }),
    initial: tokenPairToStoredToken(issued, clock.now()),
    // Time moves in 30 s steps here, so every client timeout is longer than a step (else a step
    // could fire a call's timeout before its in-process or loopback I/O had a turn to finish).
    refreshTimeoutMs: 2 * STEP,
    clock,
    onEvent: (e) => sourceEvents.push(e),
  });
  cleanups.push(() => source.close());
  interceptors.push(createAuthInterceptor(source, { clock }));

  const heartbeats = startHeartbeats(createClient(HeartbeatService, transport), { instanceId: "agent-1", timeoutMs: 2 * STEP, clock });
  cleanups.push(() => heartbeats.stop().then(() => undefined));
  const uploader = createEventUploader(createClient(EventService, transport), { timeoutMs: 2 * STEP, clock });
  const stopWatch = new AbortController();
  cleanups.push(() => stopWatch.abort());
  const watch = watchEvents(createClient(EventService, transport), { clock, signal: stopWatch.signal });
  const seen: bigint[] = [];
  let watchError: unknown;
  const watching = (async () => {
    try {
      for await (const m of watch) seen.push(m.sequence);
    } catch (err) {
      watchError = err;
    }
  })();

  // Lets every call started by a timer finish its (real or in-process) I/O before time moves on.
  const settle = async () => {
    await new Promise((r) => setImmediate(r));
    await until(() => inFlight === 0);
  };

  let added = 0;
  for (let t = 0; t < WEEK; t += STEP) {
    if (t % 60_000 === 0) {
      uploader.add({ id: `event-${added}`, type: "tick", data: { minute: added } });
      added++;
    }
    clock.advance(STEP);
    await settle();
  }
  await uploader.flush();
  await until(() => seen.length >= added || watchError !== undefined);
  stopWatch.abort();
  await watching;
  const hb = await heartbeats.stop();
  const stats = uploader.stats();
  const stored = await server.eventStore.list({ subject: "agent", afterSequence: 0, limit: 1_000_000 });
  return { added, appFailures, sourceEvents, hb, stats, stored, seen, watchError, watch, counts: server.counts };
}

/**
 * expectAWeekUnbroken lives a week in `scenario` and asserts the must-show: zero failed calls visible
 * to the application, zero lost or duplicated events, every refresh counted.
 */
export async function expectAWeekUnbroken(scenario: Scenario): Promise<void> {
    const r = await liveAWeek(scenario);

    // Zero failed calls visible to the application.
    expect(r.appFailures).toEqual([]);
    expect(r.hb.failures).toBe(0);
    expect(r.hb.reason).toBe("stopped");
    expect(r.hb.beats).toBeGreaterThanOrEqual(WEEK / STEP - 1);
    expect(r.stats).toMatchObject({ added: r.added, accepted: r.added, rejected: 0, queued: 0 });
    expect(r.watchError).toBeUndefined();

    // Zero lost or duplicated events: stored once each, watched once each, in order.
    expect(r.added).toBe(WEEK / 60_000);
    expect(r.stored.map((e) => e.id)).toEqual(Array.from({ length: r.added }, (_, i) => `event-${i}`));
    expect(r.seen).toEqual(Array.from({ length: r.added }, (_, i) => BigInt(i + 1)));

    // Every refresh counted: each successful refresh the client saw is one RefreshToken the server rotated.
    const refreshes = r.sourceEvents.filter((e) => e.type === "refresh");
    const succeeded = refreshes.filter((e) => e.outcome === "success");
    expect(succeeded.length).toBe(r.counts.refreshRpcs);
    // 1 h tokens refreshed with about a quarter of their life left: one rotation per ~45 min for a week.
    expect(succeeded.length).toBeGreaterThanOrEqual(Math.floor(WEEK / (46 * 60_000)));
    expect(succeeded.length).toBeLessThanOrEqual(Math.ceil(WEEK / (44 * 60_000)) + 5);
    expect(r.sourceEvents.some((e) => e.type === "session_expired")).toBe(false);
    // The watch followed its tokens: it was reopened as they expired, about once an hour.
    expect(r.watch.reconnects).toBeGreaterThanOrEqual(WEEK / 3_600_000 - 2);
    if (scenario.outage) {
      expect(r.counts.refreshRejected).toBeGreaterThan(0);
      expect(r.sourceEvents.some((e) => e.type === "refresh_retry")).toBe(true);
    }
}

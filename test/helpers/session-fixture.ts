import { createClient, createContextValues, createRouterTransport, type Client, type ConnectRouter, type Interceptor, type Transport } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { IssueTokenRequestSchema, TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { skipAuthKey } from "../../src/client/skip-auth.js";
import { createAuthInterceptor } from "../../src/client/auth-interceptor.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createTokenSource, type TokenSource, type TokenSourceOptions } from "../../src/client/token-source.js";
import { createBearerAuthInterceptor } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import { createRevocationCache, type RevocationCache } from "../../src/server/revocation-cache.js";
import { createEventService, type EventServiceOptions } from "../../src/server/services/event-service.js";
import { createHeartbeatService } from "../../src/server/services/heartbeat-service.js";
import { SESSION_SCOPES } from "../../src/server/services/session-services.js";
import type { EventStore } from "../../src/server/store/event-store.js";
import { createMemoryEventStore } from "../../src/server/store/memory-event-store.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createTokenService } from "../../src/server/token-service.js";
import { createManualClock, until, type ManualClock } from "./manual-clock.js";

const ISSUER = "https://sessions.test";
const ADMIN_KEY = "session-admin-key-0123456789";

/** One call as the session services' outermost server interceptor saw it. */
export interface SeenCall {
  /** method is the RPC name, e.g. `IngestEvents`. */
  method: string;
  /** at is the (manual) clock time the call arrived. */
  at: number;
  /** message is the request message (the first one of a stream). */
  message: unknown;
}

/**
 * A real TokenService, HeartbeatService and EventService (memory stores,
 * bearer auth with the production scopes) over createRouterTransport, and a
 * client token source + auth interceptor on the same transport, all on one
 * manual clock — for the client session helpers.
 */
export interface SessionFixture {
  clock: ManualClock;
  /** eventStore is the server's store, to check what was stored. */
  eventStore: EventStore;
  revocations: RevocationCache;
  source: TokenSource;
  sourceEvents: TokenSourceEvent[];
  /** pair is the pair issued at start. */
  pair: TokenPair;
  heartbeat: Client<typeof HeartbeatService>;
  events: Client<typeof EventService>;
  tokens: Client<typeof TokenService>;
  /** calls lists every session-service call the server received (before authentication). */
  calls: SeenCall[];
  /** refreshes counts RefreshToken calls that reached the server. */
  refreshes(): number;
  /**
   * settle waits (without moving the clock) until no token refresh is in
   * flight: a refresh is real async work (signatures), so a test must let it
   * finish before it jumps the clock past the refresh's own timeout.
   */
  settle(): Promise<void>;
  /**
   * fault, when set, runs around each session-service call on the server,
   * outside authentication: return an error to fail the call before it runs
   * (`before`), or after it ran (`after`: the work is done, the response lost).
   */
  fault: { before?: (call: SeenCall) => Error | undefined; after?: (call: SeenCall) => Error | undefined };
  /** issue calls IssueToken with the admin key (outside the client's auth interceptor). */
  issue(req: MessageInitShape<typeof IssueTokenRequestSchema>): Promise<TokenPair>;
  /** subject is the subject of the issued pair. */
  subject: string;
  /** killConnections destroys every HTTP/2 connection to the server (with `http2: true`; else a no-op). */
  killConnections(): void;
  close(): Promise<void>;
}

export interface SessionFixtureOptions {
  /** accessTtlSeconds of the issued pair. @default 60 */
  accessTtlSeconds?: number;
  /** refreshTtlSeconds of the issued pair. @default 86 400 */
  refreshTtlSeconds?: number;
  /** scopes of the issued pair. @default heartbeat:write events:write events:read */
  scopes?: string[];
  /** heartbeatIntervalSeconds the server suggests. @default 30 */
  heartbeatIntervalSeconds?: number;
  /** eventService overrides the event service's options. */
  eventService?: Partial<EventServiceOptions>;
  /** clientInterceptors run on the client side, outside the auth interceptor. */
  clientInterceptors?: Interceptor[];
  /** http2 serves over a real loopback HTTP/2 server (connect-node) instead of createRouterTransport. @default false */
  http2?: boolean;
  /** source overrides token-source options. */
  source?: Partial<TokenSourceOptions>;
}

export async function createSessionFixture(opts: SessionFixtureOptions = {}): Promise<SessionFixture> {
  const clock = createManualClock();
  const keyRing = await createKeyRing({ store: createMemoryKeyStore(), clock });
  const store = createMemoryFamilyStore();
  const revocations = createRevocationCache({ store, clock });
  await revocations.ready;
  const eventStore = createMemoryEventStore();
  const verifier = createAccessTokenVerifier({ keys: keyRing, issuer: ISSUER, audience: ISSUER, clock });
  const calls: SeenCall[] = [];
  const fault: SessionFixture["fault"] = {};
  let refreshes = 0;

  const countRefreshes: Interceptor = (next) => (req) => {
    if (req.method.name === "RefreshToken") {
      refreshes++;
    }
    return next(req);
  };
  const faults: Interceptor = (next) => async (req) => {
    let message: unknown;
    if (req.stream) {
      // Server streams carry one request message; client streams are left unread.
      message = req.method.methodKind === "server_streaming" ? undefined : "(client stream)";
    } else {
      message = req.message;
    }
    const call: SeenCall = { method: req.method.name, at: clock.now(), message };
    calls.push(call);
    const early = fault.before?.(call);
    if (early) {
      throw early;
    }
    const res = await next(req);
    const late = fault.after?.(call);
    if (late) {
      throw late;
    }
    return res;
  };
  const serviceInterceptors = [faults, createBearerAuthInterceptor({ verifier, revocations, scopes: SESSION_SCOPES })];

  // The client's auth interceptor is bound late: the token source needs the transport first.
  let auth: Interceptor | undefined;
  const lateAuth: Interceptor = (next) => (req) => (auth ? auth(next)(req) : next(req));
  const routes = (router: ConnectRouter) => {
    router.service(TokenService, createTokenService({ store, keyRing, issuer: ISSUER, adminKey: ADMIN_KEY, revocations, clock }), {
      interceptors: [countRefreshes],
    });
    router.service(HeartbeatService, createHeartbeatService({ store: eventStore, intervalSeconds: opts.heartbeatIntervalSeconds, clock }), {
      interceptors: serviceInterceptors,
    });
    router.service(EventService, createEventService({ store: eventStore, revocations, clock, ...opts.eventService }), {
      interceptors: serviceInterceptors,
    });
  };
  const clientInterceptors = [...(opts.clientInterceptors ?? []), lateAuth];
  let transport: Transport;
  let killConnections = () => {};
  let stopServer = async () => {};
  if (opts.http2) {
    // A real HTTP/2 cleartext server on loopback whose connections the test can kill.
    const server: Http2Server = createHttp2Server(connectNodeAdapter({ routes }));
    const sessions = new Set<ServerHttp2Session>();
    server.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2", interceptors: clientInterceptors });
    killConnections = () => {
      for (const session of sessions) {
        session.destroy();
      }
    };
    stopServer = () =>
      new Promise<void>((resolve) => {
        killConnections();
        server.close(() => resolve());
      });
  } else {
    transport = createRouterTransport(routes, { transport: { interceptors: clientInterceptors } });
  }
  const tokens = createClient(TokenService, transport);
  const subject = "agent-7";
  const pair = (
    await tokens.issueToken(
      {
        subject,
        scopes: opts.scopes ?? ["heartbeat:write", "events:write", "events:read"],
        accessTokenTtlSeconds: BigInt(opts.accessTtlSeconds ?? 60),
        refreshTokenTtlSeconds: BigInt(opts.refreshTtlSeconds ?? 86_400),
      },
      { headers: { "x-api-key": ADMIN_KEY } },
    )
  ).tokenPair!;
  const sourceEvents: TokenSourceEvent[] = [];
  const refresher = createTokenServiceRefresher(transport, { clock });
  let refreshing = 0;
  const source = createTokenSource({
    refresh: async (current, ctx) => {
      refreshing++;
      try {
        return await refresher(current, ctx);
      } finally {
        refreshing--;
      }
    },
    initial: tokenPairToStoredToken(pair, clock.now()),
    clock,
    random: () => 0,
    onEvent: (e) => sourceEvents.push(e),
    ...opts.source,
  });
  auth = createAuthInterceptor(source, { clock });
  return {
    clock,
    eventStore,
    revocations,
    source,
    sourceEvents,
    pair,
    heartbeat: createClient(HeartbeatService, transport),
    events: createClient(EventService, transport),
    tokens,
    calls,
    refreshes: () => refreshes,
    settle: () => until(() => refreshing === 0),
    fault,
    subject,
    async issue(req) {
      const res = await tokens.issueToken(req, { headers: { "x-api-key": ADMIN_KEY }, contextValues: createContextValues().set(skipAuthKey, true) });
      return res.tokenPair!;
    },
    killConnections: () => killConnections(),
    async close() {
      source.close();
      await stopServer();
      revocations.close();
      await eventStore.close();
      await store.close();
    },
  };
}

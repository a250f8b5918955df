import { create, type JsonObject } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { EventSchema, EventService, type Event } from "../../gen/tokenkit/v1/event_service_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenkitServer, type TokenkitServer, type TokenkitServerOptions } from "../../src/server/serve/server.js";
import { createMemoryEventStore } from "../../src/server/store/memory-event-store.js";
import type { EventStore } from "../../src/server/store/event-store.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

export const ADMIN = "session-services-admin-key-0123456789";

/** A real tokenkit server on loopback (h2c + HTTP/1.1) with a manual clock and an inspectable event store. */
export interface SessionServer {
  server: TokenkitServer;
  clock: ManualClock;
  eventStore: EventStore;
  tokens: Client<typeof TokenService>;
  issue(subject: string, scopes: string[], accessTtlSeconds?: number): Promise<TokenPair>;
  heartbeat(accessToken: string): Client<typeof HeartbeatService>;
  events(accessToken: string, protocol?: "connect" | "grpc"): Client<typeof EventService>;
  close(): Promise<void>;
}

export const ALL_SCOPES = ["heartbeat:write", "events:write", "events:read"];

export async function startSessionServer(options: Partial<TokenkitServerOptions> = {}): Promise<SessionServer> {
  const clock = createManualClock(Date.UTC(2026, 10, 23, 12));
  const eventStore = createMemoryEventStore();
  const server = await createTokenkitServer({
    port: 0,
    store: "memory",
    adminKey: ADMIN,
    eventStore,
    clock,
    ...options,
  });
  const bearer = (token: string): Interceptor => (next) => (req) => {
    if (token !== "") {
      req.header.set("authorization", `Bearer ${token}`);
    }
    return next(req);
  };
  const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
  return {
    server,
    clock,
    eventStore,
    tokens,
    async issue(subject, scopes, accessTtlSeconds) {
      const r = await tokens.issueToken({ subject, scopes, accessTokenTtlSeconds: accessTtlSeconds === undefined ? undefined : BigInt(accessTtlSeconds) }, { headers: { "x-api-key": ADMIN } });
      return r.tokenPair!;
    },
    heartbeat: (t) => createClient(HeartbeatService, createConnectTransport({ baseUrl: server.url, httpVersion: "2", interceptors: [bearer(t)] })),
    events: (t, protocol = "connect") =>
      createClient(
        EventService,
        protocol === "grpc"
          ? createGrpcTransport({ baseUrl: server.url, interceptors: [bearer(t)] })
          : createConnectTransport({ baseUrl: server.url, httpVersion: "2", interceptors: [bearer(t)] }),
      ),
    close: () => server.close(),
  };
}

/** event builds an Event with a small JSON payload. */
export function event(id: string, type = "tick", data: JsonObject = { id }): Event {
  return create(EventSchema, { id, type, data, attributes: { source: "test" } });
}

import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { toBinary } from "@bufbuild/protobuf";
import { HeartbeatRequestSchema, HeartbeatService, type HeartbeatRequest } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createAuthInterceptor } from "../../src/client/auth-interceptor.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createTokenSource, type TokenSource, type TokenSourceOptions } from "../../src/client/token-source.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import { createTokenServerFixture, type TokenServerFixture } from "../helpers/token-server-fixture.js";

/** A real TokenService + protected HeartbeatService in process, a client token source and interceptor, with counters and fault injection. */
export interface ClientFixture {
  server: TokenServerFixture;
  source: TokenSource;
  events: TokenSourceEvent[];
  /** RefreshToken calls that reached the server. */
  refreshCalls: () => number;
  /** Authorization tokens seen by the Heartbeat method, in order. */
  seenTokens: string[];
  /** Heartbeat request messages as the server received them, re-encoded. */
  bodies: Uint8Array[];
  /** fault, when set, makes matching server calls fail with the returned error. */
  fault: { refresh?: () => Error | undefined; heartbeat?: (token: string) => Error | undefined };
  heartbeat: ReturnType<typeof createClient<typeof HeartbeatService>>;
  transport: Transport;
}

export async function createClientFixture(
  opts: { accessTtl?: bigint; refreshTtl?: bigint; source?: Partial<TokenSourceOptions>; cold?: boolean } = {},
): Promise<ClientFixture> {
  let refreshes = 0;
  const seenTokens: string[] = [];
  const bodies: Uint8Array[] = [];
  const fault: ClientFixture["fault"] = {};
  const counter: Interceptor = (next) => async (req) => {
    if (req.method.name === "RefreshToken") {
      refreshes++;
      const e = fault.refresh?.();
      if (e) throw e;
    }
    if (req.method.name === "Heartbeat") {
      const token = (req.header.get("authorization") ?? "").replace(/^Bearer /, "");
      seenTokens.push(token);
      bodies.push(toBinary(HeartbeatRequestSchema, req.message as HeartbeatRequest));
      const e = fault.heartbeat?.(token);
      if (e) throw e;
    }
    return next(req);
  };
  // The client's auth interceptor is bound late: the token source needs the transport first.
  let auth: Interceptor | undefined;
  const lateAuth: Interceptor = (next) => (req) => (auth ? auth(next)(req) : next(req));
  const server = await createTokenServerFixture({ interceptors: [counter], clientInterceptors: [lateAuth] });
  const pair = (
    await server.issue({
      subject: "agent",
      scopes: ["heartbeat:write"],
      accessTokenTtlSeconds: opts.accessTtl ?? 3600n,
      refreshTokenTtlSeconds: opts.refreshTtl ?? 86_400n,
    })
  ).tokenPair!;
  const initial = tokenPairToStoredToken(pair, server.clock.now());
  if (opts.cold) {
    initial.accessToken = "";
    initial.expiresAt = 0;
  }
  const events: TokenSourceEvent[] = [];
  // Refreshes go over the same transport as authenticated calls: skipAuthKey keeps the interceptor out.
  const source = createTokenSource({
    refresh: createTokenServiceRefresher(server.transport, { clock: server.clock }),
    initial,
    clock: server.clock,
    random: () => 0,
    onEvent: (e) => events.push(e),
    ...opts.source,
  });
  auth = createAuthInterceptor(source, { clock: server.clock });
  const heartbeat = createClient(HeartbeatService, server.transport);
  return { server, source, events, refreshCalls: () => refreshes, seenTokens, bodies, fault, heartbeat, transport: server.transport };
}

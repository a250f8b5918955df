import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createBearerAuthInterceptor, claimsKey } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { createKeyRing, type KeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore, type SigningAlgorithm } from "../../src/server/keys/key-store.js";
import { createRevocationCache, type RevocationCache } from "../../src/server/revocation-cache.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import type { FamilyStore } from "../../src/server/store/family-store.js";
import { createTokenService, type TokenServiceOptions } from "../../src/server/token-service.js";
import { createManualClock, type ManualClock } from "./manual-clock.js";

export const ISSUER = "https://tokens.test";
export const ADMIN_KEY = "test-admin-key-0123456789";

/** A token server wired in process over createRouterTransport, with a protected HeartbeatService. */
export interface TokenServerFixture {
  clock: ManualClock;
  keyRing: KeyRing;
  store: FamilyStore;
  revocations: RevocationCache;
  transport: Transport;
  tokens: Client<typeof TokenService>;
  heartbeat: Client<typeof HeartbeatService>;
  /** admin-authorized IssueToken */
  issue: Client<typeof TokenService>["issueToken"];
  /** heartbeat with a bearer token; resolves to the sub/sid/act the server saw */
  callAs(accessToken: string): Promise<string>;
  close(): Promise<void>;
}

export async function createTokenServerFixture(
  opts: Partial<TokenServiceOptions> & {
    algorithm?: SigningAlgorithm;
    store?: FamilyStore;
    /** interceptors wrap every server call (fault injection, counting). */
    interceptors?: Interceptor[];
    /** clientInterceptors run on the client side of the in-process transport. */
    clientInterceptors?: Interceptor[];
    clock?: ManualClock;
  } = {},
): Promise<TokenServerFixture> {
  const clock = opts.clock ?? createManualClock();
  const keyRing = await createKeyRing({ store: createMemoryKeyStore(), algorithm: opts.algorithm, clock });
  const store = opts.store ?? createMemoryFamilyStore();
  const revocations = createRevocationCache({ store, clock });
  await revocations.ready;
  const verifier = createAccessTokenVerifier({ keys: keyRing, issuer: ISSUER, audience: ISSUER, clock });
  const transport = createRouterTransport((router) => {
    router.service(
      TokenService,
      createTokenService({ store, keyRing, issuer: ISSUER, adminKey: ADMIN_KEY, revocations, ...opts, clock }),
    );
    router.service(
      HeartbeatService,
      {
        heartbeat(_req, ctx) {
          const c = ctx.values.get(claimsKey)!;
          ctx.responseHeader.set("x-seen", JSON.stringify({ sub: c.sub, sid: c.sid, act: c.act ?? null }));
          return {};
        },
      },
      {
        // Service options replace the router's interceptors, so repeat them here.
        interceptors: [
          ...(opts.interceptors ?? []),
          createBearerAuthInterceptor({
            verifier,
            revocations,
            scopes: { "tokenkit.v1.HeartbeatService/Heartbeat": ["heartbeat:write"] },
          }),
        ],
      },
    );
  }, { router: { interceptors: opts.interceptors ?? [] }, transport: { interceptors: opts.clientInterceptors ?? [] } });
  const tokens = createClient(TokenService, transport);
  const heartbeat = createClient(HeartbeatService, transport);
  return {
    clock,
    keyRing,
    store,
    revocations,
    transport,
    tokens,
    heartbeat,
    issue: ((req: Parameters<typeof tokens.issueToken>[0], o?: Parameters<typeof tokens.issueToken>[1]) =>
      tokens.issueToken(req, { ...o, headers: { "x-api-key": ADMIN_KEY } })) as typeof tokens.issueToken,
    async callAs(accessToken) {
      let seen = "";
      await heartbeat.heartbeat(
        { instanceId: "i" },
        { headers: { authorization: `Bearer ${accessToken}` }, onHeader: (h) => (seen = h.get("x-seen") ?? "") },
      );
      return seen;
    },
    async close() {
      revocations.close();
      await store.close();
    },
  };
}

/**
 * refreshExpiry returns when a pair's refresh token expires, in Unix seconds, as the response
 * reports it (refresh tokens are opaque handles: the store, not the token, holds the expiry).
 */
export function refreshExpiry(pair: { refreshTokenExpireTime?: Timestamp }): number {
  return Number(pair.refreshTokenExpireTime!.seconds);
}

/** decodeClaims returns the payload of a compact JWS without verifying it (for assertions). */
export function decodeClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** decodeHeader returns the protected header of a compact JWS. */
export function decodeHeader(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

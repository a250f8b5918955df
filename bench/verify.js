// Verification rows: the access-token verifier vs raw jose jwtVerify with a cached key (`verify`), and
// calls through the bearer-auth interceptor vs the same calls with no auth (`verify-calls`). In
// `verify-calls` one client repeats one token, as real clients do for most of its lifetime, so after
// the first call every call is a verified-token-cache hit: the row measures the interceptor's cached
// path (header read, cache lookup, revocation and scope checks) plus carrying the 400-byte header
// through the router transport, which the no-auth baseline does not send.
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { jwtVerify } from "jose";
import { HeartbeatService, TokenService } from "../dist/src/index.js";
import {
  createAccessTokenVerifier,
  createBearerAuthInterceptor,
  createKeyRing,
  createMemoryKeyStore,
  createTokenService,
} from "../dist/src/server/index.js";
import { createMemoryFamilyStore } from "../dist/src/server/store/memory-family-store.js";
import { interleave, row, throughput } from "./lib.js";

export async function verifyRows({ quick }) {
  const ms = quick ? 300 : 1000;
  const rounds = quick ? 3 : 7;
  const issuer = "http://bench.local";
  const keyRing = await createKeyRing({ store: createMemoryKeyStore() });
  const service = createTokenService({ store: createMemoryFamilyStore(), keyRing, issuer, adminKey: "bench-admin-key-0123456789" });
  const { tokenPair } = await service.issueToken({ subject: "bench", scopes: ["heartbeat:write"], audiences: [], metadata: {} }, { requestHeader: new Headers({ "x-api-key": "bench-admin-key-0123456789" }) });
  const token = tokenPair.accessToken;
  // The verify row measures the checks themselves, so its verifier keeps no cache; the interceptor
  // row uses the default verifier, whose verified-token cache serves a client's repeated calls.
  const uncached = createAccessTokenVerifier({ keys: keyRing, issuer, audience: issuer, cacheSize: 0 });
  const verifier = createAccessTokenVerifier({ keys: keyRing, issuer, audience: issuer });
  const routes = (router) => router.service(HeartbeatService, { heartbeat: () => ({}) });
  const authed = createClient(HeartbeatService, createRouterTransport((r) => r.service(HeartbeatService, { heartbeat: () => ({}) }, { interceptors: [createBearerAuthInterceptor({ verifier, scopes: { "tokenkit.v1.HeartbeatService": ["heartbeat:write"] } })] })));
  const open = createClient(HeartbeatService, createRouterTransport(routes));
  const headers = { authorization: `Bearer ${token}` };
  const { kid } = keyRing.signingKey();
  const key = keyRing.verificationKey(kid).key;
  const raw = await interleave(rounds, () => throughput(() => uncached(token), { concurrency: 16, ms }), () => throughput(() => jwtVerify(token, key, { issuer, audience: issuer }), { concurrency: 16, ms }));
  const calls = await interleave(rounds, () => throughput(() => authed.heartbeat({}, { headers }), { concurrency: 16, ms }), () => throughput(() => open.heartbeat({}), { concurrency: 16, ms }));
  void TokenService;
  return [
    row("verify", "Access-token verifications/s, full tokenkit checks, no cache (baseline: raw jose jwtVerify, cached key)", raw.tokenkit, raw.baseline, "ops/s", "ratio ≥ 0.8", raw.tokenkit / raw.baseline >= 0.8),
    row("verify-calls", "Verified calls/s through the bearer interceptor with its verified-token cache, router transport (baseline: no auth)", calls.tokenkit, calls.baseline, "calls/s", "ratio ≥ 0.9", calls.tokenkit / calls.baseline >= 0.9),
  ];
}

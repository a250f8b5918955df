// Server rows: RefreshToken and IssueToken over h2c loopback vs the in-process ceiling of the same crypto.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SignJWT } from "jose";
import {
  IssueTokenRequestSchema,
  IssueTokenResponseSchema,
  RefreshTokenRequestSchema,
  RefreshTokenResponseSchema,
} from "../dist/gen/tokenkit/v1/token_service_pb.js";
import { createKeyRing, createMemoryKeyStore } from "../dist/src/server/index.js";
import { openSession, unary } from "./h2-load.js";
import { interleave, row, startServeProcess, throughput } from "./lib.js";

const ADMIN = { "x-api-key": "bench-admin-key-0123456789" };

/**
 * The in-process ceiling: the one signature every pair needs (the access token), with jose's
 * SignJWT as most Node token servers make it, with no network, store or Connect.
 */
async function crypto(keyRing) {
  const { kid, alg, key } = keyRing.signingKey();
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: "http://bench.local", sub: "bench", aud: "http://bench.local", iat: now, exp: now + 3600, jti: "x", sid: "s", scope: "a b", refresh_ttl: 86400, meta: {} };
  const sign = () => new SignJWT(claims).setProtectedHeader({ alg, kid, typ: "at+jwt" }).sign(key);
  return { refresh: sign, issue: sign };
}

/** serverRows measures the token server with the given store kind ("sqlite" or "memory"). */
export async function serverRows({ quick, store = "sqlite" }) {
  const ms = quick ? 400 : 1500;
  const rounds = quick ? 2 : 5;
  const concurrency = 32;
  const keyRing = await createKeyRing({ store: createMemoryKeyStore() });
  const ceiling = await crypto(keyRing);
  const server = await startServeProcess(store);
  const session = openSession(server.url);
  try {
    const issueBody = toBinary(IssueTokenRequestSchema, create(IssueTokenRequestSchema, { subject: "bench", scopes: ["a", "b"] }));
    const issueOnce = () => unary(session, "/tokenkit.v1.TokenService/IssueToken", issueBody, ADMIN);
    const chains = await Promise.all(
      Array.from({ length: concurrency }, async () => fromBinary(IssueTokenResponseSchema, await issueOnce()).tokenPair.refreshToken),
    );
    const rotate = async (w) => {
      const body = toBinary(RefreshTokenRequestSchema, create(RefreshTokenRequestSchema, { refreshToken: chains[w] }));
      const res = fromBinary(RefreshTokenResponseSchema, await unary(session, "/tokenkit.v1.TokenService/RefreshToken", body));
      chains[w] = res.tokenPair.refreshToken;
    };
    const refresh = await interleave(rounds, () => throughput(rotate, { concurrency, ms }), () => throughput(ceiling.refresh, { concurrency, ms }));
    const issue = await interleave(rounds, () => throughput(issueOnce, { concurrency, ms }), () => throughput(ceiling.issue, { concurrency, ms }));
    const label = store === "sqlite" ? "SQLite" : store;
    return [
      row("refresh-rpc", `RefreshToken rotations/s, h2c loopback, ${label} (baseline: one in-process jose SignJWT)`, refresh.tokenkit, refresh.baseline, "ops/s", "≥ 2500 ops/s", refresh.tokenkit >= 2500),
      row("issue-rpc", `IssueToken calls/s, h2c loopback, ${label} (baseline: one in-process jose SignJWT)`, issue.tokenkit, issue.baseline, "ops/s", "≥ 3000 ops/s", issue.tokenkit >= 3000),
    ];
  } finally {
    session.close();
    await server.stop();
  }
}

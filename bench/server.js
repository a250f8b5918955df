// Server rows: RefreshToken and IssueToken over h2c loopback vs the in-process ceiling of the same crypto.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { SignJWT } from "jose";
import {
  IssueTokenRequestSchema,
  IssueTokenResponseSchema,
  RefreshTokenRequestSchema,
  RefreshTokenResponseSchema,
} from "../dist/gen/tokenkit/v1/token_service_pb.js";
import { createKeyRing, createMemoryKeyStore } from "../dist/src/server/index.js";
import { openSession, unary } from "./h2-load.js";
import { interleave, row, throughput } from "./lib.js";

const ADMIN = { "x-api-key": "bench-admin-key-0123456789" };

async function startServer(kind) {
  const dir = mkdtempSync(join(tmpdir(), "tokenkit-bench-"));
  const child = spawn(process.execPath, [new URL("./server-process.js", import.meta.url).pathname, kind, dir], { stdio: ["ignore", "pipe", "inherit"] });
  const [chunk] = await once(child.stdout, "data");
  const port = Number(/port (\d+)/.exec(String(chunk))[1]);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await once(child, "exit");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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
  const server = await startServer(store);
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

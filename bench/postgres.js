// Postgres row: RefreshToken rotations/s against `tokenkit serve --store postgres`, interleaved with the
// same load against the SQLite store in the same run. Needs a PostgreSQL server: BENCH_DATABASE_URL,
// else TOKENKIT_TEST_DATABASE_URL (set by .ci/run), else TOKENKIT_DATABASE_URL; skipped without one.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import pg from "pg";
import {
  IssueTokenRequestSchema,
  IssueTokenResponseSchema,
  RefreshTokenRequestSchema,
  RefreshTokenResponseSchema,
} from "../dist/gen/tokenkit/v1/token_service_pb.js";
import { openSession, unary } from "./h2-load.js";
import { interleave, row, startServeProcess, throughput } from "./lib.js";

const ADMIN = { "x-api-key": "bench-admin-key-0123456789" };

async function admin(url, sql) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function startServer(kind, databaseUrl) {
  const server = await startServeProcess(kind, databaseUrl ? [databaseUrl] : []);
  const session = openSession(server.url);
  return {
    session,
    async stop() {
      session.close();
      await server.stop();
    },
  };
}

/** chainsOn issues `n` sessions and returns a rotate(w) that refreshes chain w once. */
async function chainsOn(session, n) {
  const issueBody = toBinary(IssueTokenRequestSchema, create(IssueTokenRequestSchema, { subject: "bench", scopes: ["a", "b"] }));
  const chains = await Promise.all(
    Array.from({ length: n }, async () => fromBinary(IssueTokenResponseSchema, await unary(session, "/tokenkit.v1.TokenService/IssueToken", issueBody, ADMIN)).tokenPair.refreshToken),
  );
  return async (w) => {
    const body = toBinary(RefreshTokenRequestSchema, create(RefreshTokenRequestSchema, { refreshToken: chains[w] }));
    chains[w] = fromBinary(RefreshTokenResponseSchema, await unary(session, "/tokenkit.v1.TokenService/RefreshToken", body)).tokenPair.refreshToken;
  };
}

/** postgresRows measures RefreshToken with Postgres against SQLite, interleaved; [] (with a note) without a database. */
export async function postgresRows({ quick }) {
  const url = process.env.BENCH_DATABASE_URL || process.env.TOKENKIT_TEST_DATABASE_URL || process.env.TOKENKIT_DATABASE_URL;
  if (!url) {
    console.log("note: row refresh-rpc-postgres skipped — set BENCH_DATABASE_URL (or TOKENKIT_TEST_DATABASE_URL) to a PostgreSQL server to measure it");
    return [];
  }
  const ms = quick ? 400 : 1500;
  const rounds = quick ? 2 : 5;
  const concurrency = 32;
  // A database of its own, dropped afterwards.
  const name = `tokenkit_bench_${randomBytes(4).toString("hex")}`;
  await admin(url, `CREATE DATABASE ${name}`);
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  const servers = [];
  try {
    const pgServer = await startServer("postgres", dbUrl.toString());
    servers.push(pgServer);
    const sqliteServer = await startServer("sqlite");
    servers.push(sqliteServer);
    const pgRotate = await chainsOn(pgServer.session, concurrency);
    const sqliteRotate = await chainsOn(sqliteServer.session, concurrency);
    const r = await interleave(rounds, () => throughput(pgRotate, { concurrency, ms }), () => throughput(sqliteRotate, { concurrency, ms }));
    return [row("refresh-rpc-postgres", "RefreshToken rotations/s, h2c loopback, Postgres on loopback (baseline: SQLite store, same run)", r.tokenkit, r.baseline, "ops/s", null, null)];
  } finally {
    for (const s of servers) await s.stop();
    await admin(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

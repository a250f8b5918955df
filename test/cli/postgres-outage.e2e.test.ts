import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { postgresBinariesAvailable, startPrivateCluster, type PrivateCluster } from "../helpers/postgres-cluster.js";
import { adminQuery, HAS_DATABASE, postgresTitle } from "../helpers/postgres.js";
import { cleanEnv, startServe, type ServeProcess } from "./tokenkit-process.js";

// A key as `openssl rand -base64 32` makes it: serve refuses guessable ones.
const ADMIN = "Mv6Bq2Xn8Kc4Wz1Rt7Hs3Lp9Jd5Fy0Ga2Ue6Io8Qw4E=";
const KEK = Buffer.alloc(32, 0x11).toString("base64");
const CHAINS = 8;

const binaries = HAS_DATABASE && (await postgresBinariesAvailable());
let cluster: PrivateCluster | undefined;
let server: ServeProcess | undefined;
const dirs: string[] = [];
afterAll(async () => {
  await server?.stop("SIGKILL");
  await cluster?.destroy();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const title = binaries
  ? "killing Postgres under load (a private cluster, not the shared one)"
  : postgresTitle("killing Postgres under load") + (HAS_DATABASE ? " — skipped: .ci/postgres finds no PostgreSQL binaries" : "");

describe.skipIf(!binaries)(title, () => {
  it("calls fail with Unavailable (never Internal), no rotation is half-written, and service resumes without restarting tokenkit", async () => {
    cluster = await startPrivateCluster();
    const dataDir = mkdtempSync(join(tmpdir(), "tokenkit-outage-"));
    dirs.push(dataDir);
    server = await startServe(
      ["--port", "0", "--store", "postgres", "--database-url", cluster.url, "--data-dir", dataDir, "--database-statement-timeout", "2s"],
      cleanEnv({ TOKENKIT_ADMIN_KEY: ADMIN, TOKENKIT_KEY_ENCRYPTION_KEY: KEK }),
    );
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
    const chains: TokenPair[] = [];
    for (let i = 0; i < CHAINS; i++) {
      chains.push((await tokens.issueToken({ subject: `agent-${i}` }, { headers: { "x-api-key": ADMIN } })).tokenPair!);
    }

    // Each chain refreshes in a loop, keeping its token when a call fails (as a client would) and
    // retrying it: after the outage the retry rotates, or — if the lost call had committed — gets
    // the identical pair from the grace window.
    const codes = new Map<string, number>();
    let successes = 0;
    let successesAfterRestart = 0;
    let phase: "before" | "down" | "after" = "before";
    let stop = false;
    const workers = chains.map(async (_, i) => {
      while (!stop) {
        try {
          chains[i] = (await tokens.refreshToken({ refreshToken: chains[i]!.refreshToken })).tokenPair!;
          successes++;
          if (phase === "after") successesAfterRestart++;
        } catch (err) {
          const code = err instanceof ConnectError ? Code[err.code] : `not a ConnectError: ${String(err)}`;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise((r) => setTimeout(r, 10));
    };

    await until(() => successes >= 200);
    phase = "down";
    await cluster.kill();
    await until(() => (codes.get("Unavailable") ?? 0) >= 50);
    await cluster.start();
    phase = "after";
    await until(() => successesAfterRestart >= 200);
    stop = true;
    await Promise.all(workers);

    expect([...codes.keys()]).toEqual(["Unavailable"]);
    // Every chain is still alive: one more refresh each works (nothing was mistaken for reuse).
    for (let i = 0; i < CHAINS; i++) {
      chains[i] = (await tokens.refreshToken({ refreshToken: chains[i]!.refreshToken })).tokenPair!;
    }
    // No partial rotation: every spent token has its successor, every family exactly one live token,
    // generations without gaps, and no family revoked.
    const orphans = await adminQuery(
      `SELECT 1 FROM tokenkit_refresh_tokens t WHERE t.spent_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tokenkit_refresh_tokens s WHERE s.hash = t.successor_hash)`,
      [],
      cluster.url,
    );
    expect(orphans).toHaveLength(0);
    const families = await adminQuery<{ live: string; n: string; top: number; revoked: boolean }>(
      `SELECT count(*) FILTER (WHERE t.spent_at IS NULL) AS live, count(*) AS n, max(t.generation) AS top, bool_or(f.revoked_at IS NOT NULL) AS revoked
       FROM tokenkit_families f JOIN tokenkit_refresh_tokens t ON t.sid = f.sid GROUP BY f.sid`,
      [],
      cluster.url,
    );
    expect(families).toHaveLength(CHAINS);
    for (const f of families) {
      expect(Number(f.live)).toBe(1);
      expect(Number(f.n)).toBe(f.top + 1);
      expect(f.revoked).toBe(false);
    }
    // The server lived through it: the same process still serves.
    expect(server.child.exitCode).toBeNull();
  }, 180_000);
});

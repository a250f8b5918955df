import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { AuthErrorDetailSchema, AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { adminQuery, createTestDatabase, HAS_DATABASE, postgresTitle } from "../helpers/postgres.js";
import { cleanEnv, runCli, startServe, type ServeProcess } from "./tokenkit-process.js";

// A key as `openssl rand -base64 32` makes it: serve refuses guessable ones.
const ADMIN = "Zc4Nq7Wv1Bx9Tm3Rk6Hp2Ls8Jf5Dy0Ga3Ue7Io9Qw1E=";
const KEK = Buffer.alloc(32, 0x2a).toString("base64");
const ISSUER = "https://tokens.cluster.test";
const ROUNDS = 100;
const PER_ROUND = 8;

const servers: ServeProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
  for (const fn of cleanups.reverse()) await fn();
});

function reasonOf(err: unknown): AuthErrorReason | undefined {
  return err instanceof ConnectError ? err.findDetails(AuthErrorDetailSchema)[0]?.reason : undefined;
}

function clients(url: string) {
  const transport = (interceptors: Interceptor[] = []) => createConnectTransport({ baseUrl: url, httpVersion: "2", interceptors });
  return {
    tokens: createClient(TokenService, transport()),
    heartbeat: (token: string) =>
      createClient(
        HeartbeatService,
        transport([
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${token}`);
            return next(req);
          },
        ]),
      ).heartbeat({ instanceId: "e2e" }),
  };
}

const same = (a: TokenPair, b: TokenPair) => a.refreshToken === b.refreshToken && a.accessToken === b.accessToken;

describe.skipIf(!HAS_DATABASE)(postgresTitle("two tokenkit serve processes sharing one Postgres"), () => {
  it(
    `${ROUNDS} rounds of concurrent refreshes split across both make one chain; reuse after grace revokes the family on both; keys are shared`,
    async () => {
      const db = await createTestDatabase("cluster");
      cleanups.push(() => db.drop());
      const dataDir = mkdtempSync(join(tmpdir(), "tokenkit-cluster-"));
      cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const env = cleanEnv({ TOKENKIT_ADMIN_KEY: ADMIN, TOKENKIT_KEY_ENCRYPTION_KEY: KEK, TOKENKIT_DATABASE_URL: db.url });
      // --grace-period 3s: long enough for a round's concurrent calls, short enough to watch it end.
      const args = ["--port", "0", "--store", "postgres", "--issuer", ISSUER, "--grace-period", "3s", "--data-dir", dataDir];
      const [a, b] = await Promise.all([startServe(args, env), startServe(args, env)]);
      servers.push(a, b);
      expect(a.port).not.toBe(b.port);
      const A = clients(a.url);
      const B = clients(b.url);

      // Every instance serves the same JWKS; a token issued by one verifies on the other.
      const jwks = await Promise.all([a, b].map(async (s) => (await fetch(`${s.url}/.well-known/jwks.json`)).json()));
      expect(jwks[1]).toEqual(jwks[0]);
      const first = (await A.tokens.issueToken({ subject: "agent-7", scopes: ["heartbeat:write"] }, { headers: { "x-api-key": ADMIN } })).tokenPair!;
      await B.heartbeat(first.accessToken);

      // ROUNDS rounds: PER_ROUND concurrent refreshes of the current token, half on each instance.
      const chain: TokenPair[] = [first];
      for (let round = 0; round < ROUNDS; round++) {
        const current = chain[chain.length - 1]!;
        const answers = await Promise.all(
          Array.from({ length: PER_ROUND }, (_, i) => (i % 2 ? A : B).tokens.refreshToken({ refreshToken: current.refreshToken })),
        );
        const next = answers[0]!.tokenPair!;
        expect(answers.every((r) => same(r.tokenPair!, next))).toBe(true);
        expect(next.refreshToken).not.toBe(current.refreshToken);
        chain.push(next);
      }
      const last = chain[ROUNDS]!;
      await A.heartbeat(last.accessToken);
      await B.heartbeat(last.accessToken);

      // Exactly one chain in the database: generations 0..ROUNDS, each spent token pointing at the next, one live token.
      const rows = await adminQuery<{ generation: number; spent: boolean; linked: boolean }>(
        `SELECT t.generation, t.spent_at IS NOT NULL AS spent, s.hash IS NOT NULL AS linked
         FROM tokenkit_refresh_tokens t LEFT JOIN tokenkit_refresh_tokens s ON s.hash = t.successor_hash ORDER BY t.generation`,
        [],
        db.url,
      );
      expect(rows.map((r) => r.generation)).toEqual(Array.from({ length: ROUNDS + 1 }, (_, i) => i));
      expect(rows.filter((r) => !r.spent).map((r) => r.generation)).toEqual([ROUNDS]);
      expect(rows.filter((r) => r.spent).every((r) => r.linked)).toBe(true);

      // The immediate predecessor answers with the identical pair, from either instance, until grace ends;
      // after that, presenting it is reuse and revokes the family.
      const predecessor = chain[ROUNDS - 1]!;
      let reused: unknown;
      for (let i = 0; ; i++) {
        const via = i % 2 ? A : B;
        try {
          const again = (await via.tokens.refreshToken({ refreshToken: predecessor.refreshToken })).tokenPair!;
          expect(same(again, last)).toBe(true);
        } catch (err) {
          reused = err;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((reused as ConnectError).code).toBe(Code.Unauthenticated);
      expect(reasonOf(reused)).toBe(AuthErrorReason.REFRESH_TOKEN_REUSED);

      // Revoked on both: the newest refresh token is refused by each instance, and each one's auth
      // interceptor rejects the family's access token once its revocation poll (every 1 s) has run.
      for (const s of [A, B]) {
        const err = await s.tokens.refreshToken({ refreshToken: last.refreshToken }).catch((e: unknown) => e);
        expect((err as ConnectError).code).toBe(Code.Unauthenticated);
        expect(reasonOf(err)).toBe(AuthErrorReason.REFRESH_TOKEN_REUSED);
        let seen: unknown;
        for (let i = 0; i < 100 && !(seen instanceof ConnectError); i++) {
          seen = await s.heartbeat(last.accessToken).catch((e: unknown) => e);
          if (!(seen instanceof ConnectError)) await new Promise((r) => setTimeout(r, 100));
        }
        expect(reasonOf(seen)).toBe(AuthErrorReason.TOKEN_REVOKED);
      }

      // tokenkit keys rotate against the database: both instances list the new key after a reload.
      const rotated = await runCli(["keys", "rotate", "--store", "postgres"], env);
      expect(rotated.code, rotated.stderr).toBe(0);
      const kid = rotated.stdout.trim();
      a.child.kill("SIGHUP");
      b.child.kill("SIGHUP");
      await Promise.all([a, b].map((s) => s.waitForStderr("signing keys reloaded")));
      for (const s of [a, b]) {
        const keys = ((await (await fetch(`${s.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys;
        expect(keys.map((k) => k.kid)).toContain(kid);
      }
      expect(a.stderr + b.stderr).not.toContain(KEK);
      expect(a.stderr + b.stderr).not.toContain(last.refreshToken);
    },
    120_000,
  );
});

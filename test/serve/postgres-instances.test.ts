import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { AuthErrorDetailSchema, AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";
import { dropSchema, HAS_DATABASE, postgresTitle, TEST_DATABASE_URL, uniqueName } from "../helpers/postgres.js";

const ADMIN = "postgres-instances-admin-key-0123";
const KEK = Buffer.alloc(32, 3).toString("base64");
const ISSUER = "https://tokens.example.test";
const START = Date.UTC(2026, 10, 23, 12);

const servers: TokenkitServer[] = [];
const schemas: string[] = [];
afterAll(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(schemas.map((s) => dropSchema(s)));
});

interface Instance {
  server: TokenkitServer;
  clock: ManualClock;
  tokens: ReturnType<typeof createClient<typeof TokenService>>;
  heartbeat(accessToken: string): Promise<unknown>;
}

async function instance(schema: string): Promise<Instance> {
  const clock = createManualClock(START);
  const server = await createTokenkitServer({
    port: 0,
    store: "postgres",
    databaseUrl: TEST_DATABASE_URL,
    postgres: { schema },
    keyEncryptionKey: KEK,
    adminKey: ADMIN,
    issuer: ISSUER,
    clock,
  });
  servers.push(server);
  const transport = (interceptors: Interceptor[] = []) => createConnectTransport({ baseUrl: server.url, httpVersion: "2", interceptors });
  return {
    server,
    clock,
    tokens: createClient(TokenService, transport()),
    heartbeat: (t) =>
      createClient(
        HeartbeatService,
        transport([
          (next) => (req) => {
            req.header.set("authorization", `Bearer ${t}`);
            return next(req);
          },
        ]),
      ).heartbeat({ instanceId: "i" }),
  };
}

function reasonOf(err: unknown): AuthErrorReason | undefined {
  return err instanceof ConnectError ? err.findDetails(AuthErrorDetailSchema)[0]?.reason : undefined;
}

describe.skipIf(!HAS_DATABASE)(postgresTitle("two createTokenkitServer instances sharing one Postgres"), () => {
  it("share keys, rotate a token once under concurrent refreshes on both, and revoke on reuse after grace everywhere", async () => {
    const schema = uniqueName("inst");
    schemas.push(schema);
    const [a, b] = await Promise.all([instance(schema), instance(schema)]);
    // One key set: the same JWKS on both, and a token issued by one verifies on the other.
    expect(b.server.keyRing.jwks()).toEqual(a.server.keyRing.jwks());
    const p0 = (await a.tokens.issueToken({ subject: "agent", scopes: ["heartbeat:write"] }, { headers: { "x-api-key": ADMIN } })).tokenPair!;
    await b.heartbeat(p0.accessToken);

    // 20 concurrent refreshes of one token split across both instances: one rotation, one identical pair.
    const pairs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tokens.refreshToken({ refreshToken: p0.refreshToken })));
    const distinct = new Set(pairs.map((p) => `${p.tokenPair!.refreshToken} ${p.tokenPair!.accessToken}`));
    expect(distinct.size).toBe(1);
    const p1 = pairs[0]!.tokenPair!;
    await a.heartbeat(p1.accessToken);

    // After the grace window (30 s), presenting p0 again is reuse: the family is revoked on both.
    a.clock.advance(31_000);
    b.clock.advance(31_000);
    const reused = await a.tokens.refreshToken({ refreshToken: p0.refreshToken }).catch((e: unknown) => e);
    expect((reused as ConnectError).code).toBe(Code.Unauthenticated);
    expect(reasonOf(reused)).toBe(AuthErrorReason.REFRESH_TOKEN_REUSED);
    const onB = await b.tokens.refreshToken({ refreshToken: p1.refreshToken }).catch((e: unknown) => e);
    expect((onB as ConnectError).code).toBe(Code.Unauthenticated);
    // A's interceptor knows at once; B's learns it at its next revocation poll (every 1 s, the bound is ≤ 5 s).
    expect(reasonOf(await a.heartbeat(p1.accessToken).catch((e: unknown) => e))).toBe(AuthErrorReason.TOKEN_REVOKED);
    b.clock.advance(1000);
    let seen: unknown;
    for (let i = 0; i < 200; i++) {
      seen = await b.heartbeat(p1.accessToken).catch((e: unknown) => e);
      if (seen instanceof ConnectError) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(reasonOf(seen)).toBe(AuthErrorReason.TOKEN_REVOKED);
  });

  it("a key rotated on one instance is in the other's JWKS after one reload interval, and signs on both after activation", async () => {
    const schema = uniqueName("inst");
    schemas.push(schema);
    const [a, b] = await Promise.all([instance(schema), instance(schema)]);
    const kid = await a.server.keyRing.rotate();
    expect(a.server.keyRing.jwks().keys.map((k) => k.kid)).toContain(kid);
    expect(b.server.keyRing.jwks().keys.map((k) => k.kid)).not.toContain(kid);
    b.clock.advance(10_000); // the key reloader's tick
    for (let i = 0; i < 200 && !b.server.keyRing.jwks().keys.some((k) => k.kid === kid); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(b.server.keyRing.jwks().keys.map((k) => k.kid)).toContain(kid);
    const res = await fetch(`${b.server.url}/.well-known/jwks.json`);
    expect(((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid)).toContain(kid);
  });

  it("warns when several instances could each stamp their own address as issuer", async () => {
    const schema = uniqueName("iss");
    schemas.push(schema);
    const lines: string[] = [];
    const server = await createTokenkitServer({
      port: 0,
      store: "postgres",
      databaseUrl: TEST_DATABASE_URL,
      postgres: { schema },
      keyEncryptionKey: KEK,
      adminKey: ADMIN,
      logger: { warn: (m) => lines.push(m) },
    });
    servers.push(server);
    expect(lines.join("\n")).toMatch(/no issuer set.*set --issuer to the public URL/);
    expect(lines.join("\n")).not.toContain(KEK);
  });

  it("refuses to start without a database URL or a key-encryption key, naming the option", async () => {
    await expect(createTokenkitServer({ port: 0, store: "postgres", keyEncryptionKey: KEK, adminKey: ADMIN })).rejects.toThrow(/option "databaseUrl" is required with store "postgres"/);
    await expect(createTokenkitServer({ port: 0, store: "postgres", databaseUrl: TEST_DATABASE_URL, adminKey: ADMIN })).rejects.toThrow(/option "keyEncryptionKey" is required with store "postgres"/);
  });
});

import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect as connectNet } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import type { Logger } from "../../src/lib/logger.js";
import { loadOrCreateAdminKey } from "../../src/server/serve/admin-key-file.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { defineTokenkitService } from "../../src/server/serve/service-registration.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";

const dirs: string[] = [];
const servers: TokenkitServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenkit-server-"));
  dirs.push(d);
  return d;
}
async function start(options: Parameters<typeof createTokenkitServer>[0]): Promise<TokenkitServer> {
  const s = await createTokenkitServer({ port: 0, ...options });
  servers.push(s);
  return s;
}

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

describe("createTokenkitServer", () => {
  it("generates the admin key once (0600) and reuses it on restart", async () => {
    const dataDir = tempDir();
    const logger = collectingLogger();
    const first = await start({ dataDir, store: "memory", logger });
    expect(first.adminKeyPath).toBe(join(dataDir, "admin-key"));
    expect(first.adminKeyGenerated).toBe(true);
    expect(first.url).toBe(`http://127.0.0.1:${first.port}`);
    expect(first.issuer).toBe(first.url);
    const key = readFileSync(join(dataDir, "admin-key"), "utf8").trim();
    expect(statSync(join(dataDir, "admin-key")).mode & 0o777).toBe(0o600);
    expect(logger.lines.join("\n")).not.toContain(key);

    const client = createClient(TokenService, createConnectTransport({ baseUrl: first.url, httpVersion: "1.1" }));
    const pair = (await client.issueToken({ subject: "a" }, { headers: { "x-api-key": key } })).tokenPair!;
    expect(pair.tokenType).toBe("Bearer");
    await first.close();
    await first.close(); // idempotent
    const refused = await new Promise<string>((resolve) => {
      const socket = connectNet(first.port, "127.0.0.1", () => resolve("connected"));
      socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");

    const second = await start({ dataDir, store: "memory" });
    expect(second.adminKeyGenerated).toBe(false);
    expect(readFileSync(join(dataDir, "admin-key"), "utf8").trim()).toBe(key);
  });

  it("uses the adminKey option without touching a key file", async () => {
    const dataDir = tempDir();
    const s = await start({ dataDir, store: createMemoryFamilyStore(), keyStore: undefined, adminKey: "option-admin-key-0123456789" });
    expect(s.adminKeyPath).toBeUndefined();
    expect(() => statSync(join(dataDir, "admin-key"))).toThrow();
    const client = createClient(TokenService, createGrpcTransport({ baseUrl: s.url }));
    await expect(client.issueToken({ subject: "a" }, { headers: { "x-api-key": "option-admin-key-0123456789" } })).resolves.toBeDefined();
  });

  it("registers extra services with the server context, for health and reflection too", async () => {
    const seen: string[] = [];
    const s = await start({
      dataDir: tempDir(),
      store: "memory",
      issuer: "https://issuer.test",
      services: [
        defineTokenkitService(HeartbeatService, (ctx) => {
          seen.push(ctx.issuer, ctx.audience, typeof ctx.keyRing.jwks, typeof ctx.revocations.isRevoked);
          return { heartbeat: () => ({ interval: { seconds: 7n } }) };
        }),
      ],
    });
    expect(seen).toEqual(["https://issuer.test", "https://issuer.test", "function", "function"]);
    const transport = createGrpcTransport({ baseUrl: s.url });
    expect((await createClient(HeartbeatService, transport).heartbeat({})).interval?.seconds).toBe(7n);
    expect((await createClient(Health, transport).check({ service: "tokenkit.v1.HeartbeatService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it.each([
    [{ store: "mongo" as never }, '"store"'],
    [{ dataDir: "" }, '"dataDir"'],
    [{ algorithm: "HS256" as never }, '"algorithm"'],
    [{ issuer: "not a url" }, '"issuer"'],
    [{ adminKey: "short" }, '"adminKey"'],
    [{ gracePeriodSeconds: -1 }, '"gracePeriodSeconds"'],
    [{ services: [{}] as never }, '"services"'],
    [{ drainTimeoutSeconds: -1 }, '"drainTimeoutSeconds"'],
    [{ keyReloadIntervalSeconds: 0 }, '"keyReloadIntervalSeconds"'],
    [{ port: 70_000 }, '"port"'],
    [{ postgres: { statementTimeoutSeconds: 0.5 } }, 'option "postgres.statementTimeoutSeconds" must be at least 1s'],
    [{ accessTtlSeconds: 7200, maxAccessTtlSeconds: 3600 }, 'option "accessTtlSeconds" must be between 1s and 1h'],
  ])("rejects %j with a TypeError naming the option", async (options, name) => {
    await expect(createTokenkitServer({ port: 0, dataDir: tempDir(), ...options })).rejects.toThrow(name);
  });

  it("store postgres without a database URL is refused, naming the option", async () => {
    await expect(createTokenkitServer({ port: 0, dataDir: tempDir(), store: "postgres" })).rejects.toThrow(/option "databaseUrl" is required with store "postgres"/);
  });

  it("rejects token-service settings out of range before serving, and releases the port", async () => {
    const dataDir = tempDir();
    await expect(createTokenkitServer({ port: 0, dataDir, store: "memory", gracePeriodSeconds: 301 })).rejects.toThrow(/"gracePeriodSeconds"/);
  });

  it("keeps the issuer of its first start in the data dir, and a given issuer replaces it with a warning", async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    expect(first.issuer).toBe(first.url);
    expect(readFileSync(join(dataDir, "issuer"), "utf8")).toBe(`${first.url}\n`);
    expect(statSync(join(dataDir, "issuer")).mode & 0o777).toBe(0o600);
    await first.close();

    const second = await start({ dataDir });
    expect(second.issuer).toBe(first.url);
    await second.close();

    const logger = collectingLogger();
    const third = await start({ dataDir, issuer: "https://auth.example.com", logger });
    expect(third.issuer).toBe("https://auth.example.com");
    expect(readFileSync(join(dataDir, "issuer"), "utf8").trim()).toBe("https://auth.example.com");
    expect(logger.lines.filter((l) => l.startsWith("warn"))).toEqual([
      `warn tokenkit: the issuer changed from ${first.url} to https://auth.example.com (kept in ${join(dataDir, "issuer")}); sessions issued under the old one no longer rotate`,
    ]);
    await third.close();
  });

  it("keeps no issuer file when the keys do not live in the data dir", async () => {
    const dataDir = tempDir();
    const s = await start({ dataDir, store: "memory" });
    expect(s.issuer).toBe(s.url);
    expect(() => statSync(join(dataDir, "issuer"))).toThrow();
  });

  it("fails with EADDRINUSE when the port is taken", async () => {
    const s = await start({ dataDir: tempDir(), store: "memory" });
    await expect(createTokenkitServer({ port: s.port, dataDir: tempDir(), store: "memory" })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});

describe("loadOrCreateAdminKey", () => {
  it("creates the key exactly once under concurrent starts", async () => {
    const path = join(tempDir(), "nested", "admin-key");
    const results = await Promise.all([loadOrCreateAdminKey(path), loadOrCreateAdminKey(path), loadOrCreateAdminKey(path)]);
    expect(new Set(results.map((r) => r.key)).size).toBe(1);
    expect(results.filter((r) => r.generated)).toHaveLength(1);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("rejects an empty key file and warns about a readable one", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "empty"), "\n");
    await expect(loadOrCreateAdminKey(join(dir, "empty"))).rejects.toThrow(/empty/);
    writeFileSync(join(dir, "open"), "an-admin-key-that-is-long-enough\n");
    chmodSync(join(dir, "open"), 0o644);
    const logger = collectingLogger();
    const res = await loadOrCreateAdminKey(join(dir, "open"), logger);
    expect(res).toEqual({ key: "an-admin-key-that-is-long-enough", path: join(dir, "open"), generated: false });
    expect(logger.lines.some((l) => l.startsWith("warn") && l.includes("chmod 600"))).toBe(true);
    expect(logger.lines.join("\n")).not.toContain("an-admin-key-that-is-long-enough");
  });
});

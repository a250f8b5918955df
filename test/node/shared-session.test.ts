import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createFileTokenStore } from "../../src/node/file-token-store.js";
import { createKeyRing } from "../../src/server/keys/key-ring.js";
import { createMemoryKeyStore } from "../../src/server/keys/key-store.js";
import type { FamilyStore } from "../../src/server/store/family-store.js";
import { createSqliteFamilyStore } from "../../src/server/store/sqlite-family-store.js";
import { createTokenService } from "../../src/server/token-service.js";
import { startLoopbackServer, type LoopbackServer } from "../helpers/loopback-server.js";

const ADMIN = "shared-admin-key-0123456789";

describe("two Node processes sharing one file store and one session", () => {
  let server: LoopbackServer;
  let store: FamilyStore;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tokenkit-shared-"));
    store = createSqliteFamilyStore({ path: join(dir, "server", "tokenkit.db") });
    const keyRing = await createKeyRing({ store: createMemoryKeyStore() });
    // Grace 0: any second use of a refresh token, however close, revokes the family.
    server = await startLoopbackServer((router) =>
      router.service(TokenService, createTokenService({ store, keyRing, issuer: "http://shared.test", adminKey: ADMIN, gracePeriodSeconds: 0 })),
    );
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it("both refreshing in a loop for 200 rotations each: the family is never revoked", async () => {
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
    const pair = (await tokens.issueToken({ subject: "cli-user" }, { headers: { "x-api-key": ADMIN } })).tokenPair!;
    const path = join(dir, "client", "token.json");
    await createFileTokenStore({ path }).save(tokenPairToStoredToken(pair, Date.now()));

    const fixture = fileURLToPath(new URL("./fixtures/refresh-loop.mjs", import.meta.url));
    const children = [0, 1].map(() => spawn(process.execPath, [fixture, server.url, path, "200"], { stdio: ["ignore", "pipe", "inherit"] }));
    const outputs = await Promise.all(
      children.map(async (c) => {
        let out = "";
        c.stdout!.on("data", (d: Buffer) => (out += d.toString()));
        await once(c, "exit");
        return JSON.parse(out) as { refreshed: number; adopted: number; failures: number; state: string };
      }),
    );
    for (const o of outputs) {
      expect(o.failures).toBe(0);
      expect(o.state).toBe("active");
    }
    const rotations = outputs.reduce((n, o) => n + o.refreshed, 0);
    expect(rotations).toBeGreaterThanOrEqual(200);
    // The family is alive: the last stored refresh token still rotates.
    const last = (await createFileTokenStore({ path }).load())!;
    const next = await tokens.refreshToken({ refreshToken: last.refreshToken! });
    expect(next.tokenPair!.sessionId).toBe(pair.sessionId);
    expect((await store.getFamily(pair.sessionId))!.revokedAt).toBeUndefined();
  });
});

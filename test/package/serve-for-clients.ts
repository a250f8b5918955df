import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { cleanEnv, startServe, type ServeProcess } from "../cli/tokenkit-process.js";

// A random 256-bit key: tokenkit serve refuses guessable ones.
const ADMIN_KEY = "Zk4q9V0m2cX7tRb1LwYp8sNd3hJf6uGe5aQo0iTz1yE=";

/** ServedTokenkit is a real `tokenkit serve` (memory store, loopback) that issues sessions to client tests. */
export interface ServedTokenkit {
  /** url is the server's base URL. */
  url: string;
  /** issueRefreshToken issues a fresh session for the session services and returns its refresh token. */
  issueRefreshToken(options?: { accessTtlSeconds?: number }): Promise<string>;
  /** stop ends the server and removes its data dir. */
  stop(): Promise<void>;
}

/**
 * serveForClients starts `tokenkit serve` from this repository (build first) on a free loopback port with
 * the memory store and a known admin key, for tests that run client code in other projects or runtimes.
 */
export async function serveForClients(): Promise<ServedTokenkit> {
  const dataDir = mkdtempSync(join(tmpdir(), "tokenkit-pkg-serve-"));
  let serve: ServeProcess;
  try {
    serve = await startServe(["--port", "0", "--store", "memory", "--data-dir", dataDir], cleanEnv({ TOKENKIT_ADMIN_KEY: ADMIN_KEY }));
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const tokens: Client<typeof TokenService> = createClient(TokenService, createConnectTransport({ baseUrl: serve.url, httpVersion: "1.1" }));
  return {
    url: serve.url,
    async issueRefreshToken(options = {}) {
      const response = await tokens.issueToken(
        {
          subject: "packaging-test",
          scopes: ["heartbeat:write", "events:write", "events:read"],
          accessTokenTtlSeconds: options.accessTtlSeconds === undefined ? undefined : BigInt(options.accessTtlSeconds),
        },
        { headers: { "x-api-key": ADMIN_KEY } },
      );
      return response.tokenPair!.refreshToken;
    },
    async stop() {
      await serve.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

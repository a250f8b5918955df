// A token server for benchmarks, in its own process so that the load generator does not share its event loop.
// Usage: node bench/server-process.js <store: sqlite|memory> <dataDir>; prints "port <n>" when ready.
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createServer } from "node:http2";
import { join } from "node:path";
import { TokenService } from "../dist/gen/tokenkit/v1/token_service_pb.js";
import { createKeyRing, createMemoryKeyStore, createTokenService } from "../dist/src/server/index.js";

const [kind = "sqlite", dataDir = "/tmp/tokenkit-bench"] = process.argv.slice(2);
const store =
  kind === "memory"
    ? (await import("../dist/src/server/store/memory-family-store.js")).createMemoryFamilyStore()
    : (await import("../dist/src/server/store/sqlite-family-store.js")).createSqliteFamilyStore({ path: join(dataDir, "bench.db") });
const keyRing = await createKeyRing({ store: createMemoryKeyStore() });
const issuer = "http://bench.local";
const handler = connectNodeAdapter({
  routes: (router) => router.service(TokenService, createTokenService({ store, keyRing, issuer, adminKey: "bench-admin-key-0123456789" })),
});
const server = createServer(handler);
server.on("connection", (s) => s.setNoDelay(true));
server.listen(0, "127.0.0.1", () => {
  console.log(`port ${server.address().port}`);
});
process.on("SIGTERM", () => {
  server.close();
  store.close().finally(() => process.exit(0));
});

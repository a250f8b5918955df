// The real `tokenkit serve` bootstrap for benchmarks, in its own process so the load generator does not share its event loop.
// Usage: node bench/server-process.js <store: sqlite|memory|postgres> <dataDir> [databaseUrl]; prints "port <n>" when ready.
import { createTokenkitServer } from "../dist/src/server/index.js";

const [store = "sqlite", dataDir = "/tmp/tokenkit-bench", databaseUrl] = process.argv.slice(2);
const postgres = store === "postgres" ? { databaseUrl, keyEncryptionKey: Buffer.alloc(32, 0x42).toString("base64") } : {};
const server = await createTokenkitServer({ port: 0, dataDir, store, adminKey: "bench-admin-key-0123456789", ...postgres });
console.log(`port ${server.port}`);
process.on("SIGTERM", () => {
  server.close().finally(() => process.exit(0));
});

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../cli/tokenkit-process.js";
import { serveForClients, type ServedTokenkit } from "./serve-for-clients.js";

// The tokenkit entry, built (dist/), in Deno and Bun: each keeps one session alive against a real
// `tokenkit serve` through several expirations of 2 s access tokens. The runtimes come from the npm
// registry (packages `deno` and `bun`); .ci/run installs them and passes their paths in
// TOKENKIT_TEST_DENO / TOKENKIT_TEST_BUN. Elsewhere these tests skip, except under CI, where a missing
// runtime fails.
const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("./fixtures/runtime-session.mjs", import.meta.url));
const ACCESS_TTL_SECONDS = 2;
const SESSION_MS = 9000;

const RUNTIMES = [
  { name: "deno", bin: process.env.TOKENKIT_TEST_DENO, args: ["run", "--allow-net", "--allow-env", "--allow-read", SCRIPT] },
  { name: "bun", bin: process.env.TOKENKIT_TEST_BUN, args: ["run", SCRIPT] },
];

let server: ServedTokenkit | undefined;
beforeAll(async () => {
  if (RUNTIMES.some((r) => r.bin !== undefined)) server = await serveForClients();
});
afterAll(async () => {
  await server?.stop();
});

describe("the tokenkit entry in other runtimes", () => {
  for (const runtime of RUNTIMES) {
    const available = runtime.bin !== undefined && existsSync(runtime.bin);
    it.skipIf(!available && !process.env.CI)(`${runtime.name}: a session lives through several access-token expirations`, async () => {
      expect(available, `${runtime.name} binary (TOKENKIT_TEST_${runtime.name.toUpperCase()})`).toBe(true);
      const refreshToken = await server!.issueRefreshToken({ accessTtlSeconds: ACCESS_TTL_SECONDS });
      const { stdout } = await run(runtime.bin!, runtime.args, {
        cwd: ROOT,
        timeout: 30_000,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NO_COLOR: "1",
          DENO_NO_UPDATE_CHECK: "1",
          TOKENKIT_URL: server!.url,
          TOKENKIT_REFRESH_TOKEN: refreshToken,
          TOKENKIT_SESSION_MS: String(SESSION_MS),
        },
      });
      const stats = JSON.parse(stdout.trim().split("\n").pop()!);
      console.log(`${runtime.name}: ${JSON.stringify(stats)}`);
      expect(stats.runtime).toMatch(new RegExp(`^${runtime.name} `));
      expect(stats.failures, stats.errors.join("\n")).toBe(0);
      expect(stats.calls).toBeGreaterThan(10);
      // 9 s of 2 s tokens: at least three refreshes and as many new tokens, none sent after its exp.
      expect(stats.refreshes).toBeGreaterThanOrEqual(3);
      expect(stats.tokens).toBeGreaterThanOrEqual(3);
      expect(stats.expiredSent).toBe(0);
    });
  }
});

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { Code } from "@connectrpc/connect";
import { main } from "../../src/cli/main.js";
import type { Logger } from "../../src/lib/logger.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { cleanEnv, startServe, type ServeProcess } from "../cli/tokenkit-process.js";

// Configuration mistakes an operator can make, and restarts that must not lose sessions.
// In-process runs of the CLI's `main` for the flag table (fast, same code as the binary);
// real `tokenkit serve` processes where restarts matter. Loopback only.

const dirs: string[] = [];
const processes: ServeProcess[] = [];
const servers: TokenkitServer[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop("SIGKILL")));
  await Promise.all(servers.map((s) => s.close()));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenkit-config-"));
  dirs.push(d);
  return d;
}

/** runMain runs `tokenkit ...args` in process; an aborted shutdown signal stops a server that did start. */
async function runMain(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(args, { env, stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l), shutdown: AbortSignal.abort() });
  return { code, stdout, stderr };
}

function collectingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) };
}

describe("TOKENKIT_ADMIN_KEY strength", () => {
  it.each(["example-admin-key-change-me", "0123456789abcdef-admin", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "passwordpasswordpassword"])(
    "refuses %s, saying how to make a key, and writes nothing",
    async (key) => {
      const dataDir = join(tempDir(), "data");
      const res = await runMain(["serve", "--port", "0", "--data-dir", dataDir], { TOKENKIT_ADMIN_KEY: key });
      expect(res.code).toBe(2);
      const message = res.stderr.join("\n");
      expect(message).toContain("TOKENKIT_ADMIN_KEY");
      expect(message).toContain("128 bits");
      expect(message).toContain("openssl rand -base64 32");
      expect(message).not.toContain(key);
      expect(existsSync(dataDir)).toBe(false);
    },
  );

  it("accepts a key made the way the message says (32 random bytes, base64)", async () => {
    const dataDir = join(tempDir(), "data");
    const key = "q3Jx0vS1xM8yJ8m0m3cQm6tXo1r2b7e4Wk9ZfL5uH2E=";
    const res = await runMain(["serve", "--port", "0", "--store", "memory", "--data-dir", dataDir], { TOKENKIT_ADMIN_KEY: key });
    expect(res.stderr.join("\n")).not.toContain("TOKENKIT_ADMIN_KEY");
    expect(res.code).toBe(0);
    expect(res.stdout.at(-1)).toMatch(/^tokenkit listening on http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe("admin key file strength", () => {
  it("warns about a hand-written key file that is easy to guess, without quoting it", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "admin-key"), "example-admin-key-change-me\n", { mode: 0o600 });
    const logger = collectingLogger();
    const s = await createTokenkitServer({ port: 0, dataDir, store: "memory", logger });
    servers.push(s);
    expect(logger.lines.filter((l) => l.includes("admin key"))).toEqual([
      `warn tokenkit: the admin key in ${join(dataDir, "admin-key")} is easy to guess (about 97 bits of entropy; at least 128 bits are needed): replace it with the output of \`openssl rand -base64 32\``,
    ]);
    expect(logger.lines.join("\n")).not.toContain("example-admin-key-change-me");
    await s.close();
  });
});

describe("tokenkit keys rotate", () => {
  it("refuses a data dir that holds no keys, and creates nothing", async () => {
    const typo = join(tempDir(), "tokenkti");
    const res = await runMain(["keys", "rotate", "--data-dir", typo]);
    expect(res.code).toBe(2);
    expect(res.stdout).toEqual([]);
    expect(res.stderr.join("\n")).toContain(`--data-dir ${typo} holds no signing keys`);
    expect(existsSync(typo)).toBe(false);
    // An existing directory without keys.json is refused the same way.
    const empty = tempDir();
    const again = await runMain(["keys", "rotate"], { TOKENKIT_DATA_DIR: empty });
    expect(again.code).toBe(2);
    expect(again.stderr.join("\n")).toContain(`TOKENKIT_DATA_DIR ${empty} holds no signing keys`);
    expect(readdirSync(empty)).toEqual([]);
  });
});

describe("tokenkit serve flag values", () => {
  // Each value parses but is out of range: the message names the flag (or its twin) in the
  // operator's terms, never an internal option name, and nothing is written.
  const cases: [string[], Record<string, string>, string][] = [
    [["--grace-period", "10m"], {}, "--grace-period must be between 0s and 300s"],
    [[], { TOKENKIT_GRACE_PERIOD: "301" }, "TOKENKIT_GRACE_PERIOD must be between 0s and 300s"],
    [["--max-refresh-ttl", "91d"], {}, "--max-refresh-ttl must be between 60s and 90d"],
    [["--default-refresh-ttl", "30s"], {}, "--default-refresh-ttl must be between 60s and"],
    [["--default-refresh-ttl", "10d", "--max-refresh-ttl", "1d"], {}, "--default-refresh-ttl must be between 60s and 1d"],
    [["--access-ttl", "0"], {}, "--access-ttl must be between 1s and"],
    [["--access-ttl", "2d"], {}, "--access-ttl must be between 1s and 1d"],
    [["--max-access-ttl", "0"], {}, "--max-access-ttl must be"],
    [["--absolute-lifetime", "30s"], {}, "--absolute-lifetime must be at least 60s"],
    [["--issuer", "not-a-url"], {}, "--issuer must be an http:// or https:// URL"],
    [["--cors-origin", "https://app.example.com/path"], {}, "--cors-origin"],
    [["--static", "/nonexistent-static-dir"], {}, "--static"],
    [["--heartbeat-interval", "2h"], {}, "--heartbeat-interval must be between 1s and 1h"],
    [["--host", ""], {}, "--host must be a non-empty string"],
    // Values that do not parse are refused the same way.
    [["--port", "70000"], {}, "--port must be a port number"],
    [["--store", "mongo"], {}, "--store must be one of"],
    [["--algorithm", "HS256"], {}, "--algorithm must be one of"],
    [["--access-ttl", "1.5h"], {}, "--access-ttl"],
    [["--drain-timeout", "soon"], {}, "--drain-timeout"],
    [["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], {}, "--tls-cert: cannot read /nonexistent.pem"],
    [["--store", "postgres"], {}, "--store postgres needs --database-url"],
    [["--store", "postgres", "--database-url", "postgres://127.0.0.1:1/x", "--key-encryption-key-file", "/nonexistent.kek"], {}, "--key-encryption-key-file /nonexistent.kek"],
    [["--store", "postgres", "--database-url", "postgres://127.0.0.1:1/x", "--database-pool-size", "0"], { TOKENKIT_KEY_ENCRYPTION_KEY: "q3Jx0vS1xM8yJ8m0m3cQm6tXo1r2b7e4Wk9ZfL5uH2E=" }, "--database-pool-size must be"],
  ];

  it.each(cases)("serve %j %j → exit 2 with %j, and no data dir or admin key", async (args, env, message) => {
    const root = tempDir();
    const dataDir = join(root, "data");
    const adminKeyFile = join(root, "keys", "admin-key");
    const res = await runMain(["serve", "--port", "0", "--data-dir", dataDir, "--admin-key-file", adminKeyFile, ...args], env);
    const stderr = res.stderr.join("\n");
    expect(res.code, stderr).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).not.toMatch(/Seconds|option "|createT/);
    expect(res.stdout).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  });

  it("writes nothing when the port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    try {
      const port = (blocker.address() as { port: number }).port;
      const root = tempDir();
      const res = await runMain(["serve", "--port", String(port), "--data-dir", join(root, "data")]);
      expect(res.code).toBe(1);
      expect(res.stderr.join("\n")).toContain("already in use");
      expect(readdirSync(root)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it("names the library option, not a flag, when called from the library", async () => {
    await expect(createTokenkitServer({ port: 0, store: "memory", adminKey: "a".repeat(32), gracePeriodSeconds: 600 })).rejects.toThrow(
      'createTokenkitServer: option "gracePeriodSeconds" must be between 0s and 300s',
    );
  });
});

describe("data directory permissions", () => {
  it("warns once about an existing data dir other users can read", async () => {
    const dataDir = join(tempDir(), "data");
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const logger = collectingLogger();
    const s = await createTokenkitServer({ port: 0, dataDir, logger });
    servers.push(s);
    const warnings = logger.lines.filter((l) => l.includes(dataDir) && l.startsWith("warn"));
    expect(warnings).toEqual([`warn tokenkit: the data dir ${dataDir} is accessible by other users (mode 755); chmod 700 it`]);
    await s.close();
  });

  it("says nothing about a 0700 data dir and creates a new one with 0700", async () => {
    const dataDir = join(tempDir(), "data");
    const logger = collectingLogger();
    const s = await createTokenkitServer({ port: 0, dataDir, logger });
    servers.push(s);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(logger.lines.filter((l) => l.includes("accessible by other users"))).toEqual([]);
    await s.close();
  });
});

async function issue(url: string, adminKey: string, subject: string): Promise<TokenPair> {
  const client = createClient(TokenService, createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  return (await client.issueToken({ subject, refreshTokenTtlSeconds: 3600n }, { headers: { "x-api-key": adminKey } })).tokenPair!;
}

describe("the default issuer is kept in the data dir", () => {
  async function serve(args: string[]): Promise<ServeProcess> {
    const s = await startServe(["--grace-period", "0", ...args], cleanEnv());
    processes.push(s);
    return s;
  }

  it("restarting on another port keeps every session: each still rotates, reuse is still detected", async () => {
    const dataDir = tempDir();
    const first = await serve(["--port", "0", "--data-dir", dataDir]);
    const adminKey = readFileSync(join(dataDir, "admin-key"), "utf8").trim();
    const issued = await Promise.all(["a", "b", "c"].map((s) => issue(first.url, adminKey, s)));
    const client1 = createClient(TokenService, createGrpcTransport({ baseUrl: first.url }));
    const spent = issued[0]!;
    const rotated = (await client1.refreshToken({ refreshToken: spent.refreshToken })).tokenPair!;
    expect(readFileSync(join(dataDir, "issuer"), "utf8").trim()).toBe(first.url);
    expect(await first.stop()).toBe(0);

    // Hold the old port so that the restart cannot land on it.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(first.port, "127.0.0.1", r));
    try {
      const second = await serve(["--port", "0", "--data-dir", dataDir]);
      expect(second.port).not.toBe(first.port);
      const client2 = createClient(TokenService, createGrpcTransport({ baseUrl: second.url }));
      for (const pair of [rotated, issued[1]!, issued[2]!]) {
        const next = (await client2.refreshToken({ refreshToken: pair.refreshToken })).tokenPair!;
        expect(next.sessionId).toBe(pair.sessionId);
      }
      await expectConnectError(client2.refreshToken({ refreshToken: spent.refreshToken }), Code.Unauthenticated, AuthErrorReason.REFRESH_TOKEN_REUSED);
      expect(await second.stop()).toBe(0);
    } finally {
      blocker.close();
    }
  });

  it("a data dir written before the issuer was kept adopts the address it is restarted on, and keeps it", async () => {
    const dataDir = tempDir();
    const first = await serve(["--port", "0", "--data-dir", dataDir]);
    const adminKey = readFileSync(join(dataDir, "admin-key"), "utf8").trim();
    const pair = await issue(first.url, adminKey, "legacy");
    expect(await first.stop()).toBe(0);
    // What the previous release left behind: keys and sessions, no issuer file.
    unlinkSync(join(dataDir, "issuer"));

    const second = await serve(["--port", String(first.port), "--data-dir", dataDir]);
    expect(second.stderr).toContain(`info tokenkit: this data dir kept no issuer; tokens it issued before carry the address it listened on, taken to be ${first.url}`);
    expect(readFileSync(join(dataDir, "issuer"), "utf8").trim()).toBe(first.url);
    const client = createClient(TokenService, createGrpcTransport({ baseUrl: second.url }));
    const next = (await client.refreshToken({ refreshToken: pair.refreshToken })).tokenPair!;
    expect(next.sessionId).toBe(pair.sessionId);
    expect(await second.stop()).toBe(0);
  });
});

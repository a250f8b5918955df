import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanEnv, runCli } from "./tokenkit-process.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenkit-cli-"));
  dirs.push(d);
  return d;
}

describe("tokenkit command line", () => {
  it.each(["serve", "issue", "refresh", "revoke", "demo"])("%s --help prints usage and exits 0", async (command) => {
    const res = await runCli([command, "--help"]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`Usage: tokenkit ${command}`);
  });

  it("keys rotate --help and the top-level help list the commands", async () => {
    const keys = await runCli(["keys", "rotate", "--help"]);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toContain("Usage: tokenkit keys rotate");
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    for (const c of ["serve", "issue", "refresh", "revoke", "keys", "demo"]) {
      expect(top.stdout).toContain(`  ${c} `);
    }
  });

  it("serve --help lists every documented flag with its environment twin", async () => {
    const res = await runCli(["serve", "--help"]);
    for (const flag of ["host", "port", "data-dir", "store", "database-url", "issuer", "access-ttl", "default-refresh-ttl", "max-refresh-ttl", "grace-period", "admin-key-file", "tls-cert", "tls-key"]) {
      expect(res.stdout).toContain(`--${flag} `);
      expect(res.stdout).toContain(`TOKENKIT_${flag.toUpperCase().replace(/-/g, "_")}`);
    }
  });

  it.each([
    [["serve", "--port", "abc"], {}, "--port"],
    [["serve", "--grace-period", "10x"], {}, "--grace-period"],
    [["serve"], { TOKENKIT_ACCESS_TTL: "-1" }, "TOKENKIT_ACCESS_TTL"],
    [["serve", "--bogus"], {}, "--bogus"],
    [["serve", "--store", "postgres", "--port", "0"], {}, "--store"],
    [["issue", "--subject", "x"], {}, "--url"],
    [["issue", "--url", "ftp://x", "--subject", "x"], {}, "--url"],
    [["issue", "--url", "http://127.0.0.1:1"], {}, "--subject"],
    [["issue", "--url", "http://127.0.0.1:1", "--subject", "s", "--refresh-ttl", "forever"], {}, "--refresh-ttl"],
    [["refresh", "--url", "http://127.0.0.1:1"], {}, "--refresh-token"],
    [["revoke", "--url", "http://127.0.0.1:1"], {}, "--token"],
    [["keys", "spin"], {}, "keys spin"],
    [["nonsense"], {}, "nonsense"],
  ] as [string[], Record<string, string>, string][])("%j exits 2 naming %s", async (args, env, needle) => {
    const dataDir = tempDir();
    const res = await runCli(args, cleanEnv({ TOKENKIT_DATA_DIR: dataDir, ...env }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(needle);
    expect(res.stdout).toBe("");
  });

  it("serve --store postgres without --database-url is a usage error naming the flag", async () => {
    const res = await runCli(["serve", "--store", "postgres", "--port", "0", "--data-dir", tempDir()]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--store postgres needs --database-url (or TOKENKIT_DATABASE_URL)");
  });

  it("serve rejects settings the token service refuses, naming the flag", async () => {
    const res = await runCli(["serve", "--grace-period", "301", "--port", "0", "--data-dir", tempDir()]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("--grace-period");
    const viaEnv = await runCli(["serve", "--port", "0", "--data-dir", tempDir()], cleanEnv({ TOKENKIT_MAX_REFRESH_TTL: "91d" }));
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stderr).toContain("TOKENKIT_MAX_REFRESH_TTL");
  });

  it("serve exits 1 when the port is taken", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    try {
      const port = (blocker.address() as { port: number }).port;
      const res = await runCli(["serve", "--port", String(port), "--data-dir", tempDir()]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain("already in use");
      expect(res.stdout).not.toContain("tokenkit listening");
    } finally {
      blocker.close();
    }
  });

  it.each([
    [["--duration", "0"], "--duration must be at least 1s"],
    [["--refresh-ttl", "30s"], "--refresh-ttl must be at least 60s"],
    [["--url", "http://127.0.0.1:9"], "TOKENKIT_ADMIN_KEY"],
    [["--url", "ftp://x"], "--url must be an http:// or https:// URL"],
    [["--bogus"], "bogus"],
  ])("demo %j is a usage error naming the flag (exit 2)", async (args, message) => {
    const res = await runCli(["demo", ...args]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
  });

  it("demo runs a short session against its in-process server and exits 0 with a summary", async () => {
    const res = await runCli(["demo", "--duration", "2s"]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^tokenkit demo: started a tokenkit server in process at http:\/\/127\.0\.0\.1:\d+/);
    expect(res.stdout).toContain("♥ heartbeat acknowledged");
    expect(res.stdout).toContain("summary after");
    expect(res.stdout).toContain("✓ the session ran on");
  });

  it("no command prints usage and exits 2", async () => {
    const res = await runCli([]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("Usage: tokenkit <command>");
  });
});

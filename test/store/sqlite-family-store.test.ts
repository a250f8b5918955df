import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createTokenServerFixture } from "../helpers/token-server-fixture.js";
import { createSqliteFamilyStore } from "../../src/server/store/sqlite-family-store.js";
import { connectSqlite } from "../../src/server/store/sqlite-driver.js";
import { SQLITE_MIGRATIONS } from "../../src/server/store/sqlite-migrations.js";
import { describeFamilyStoreContract, family, token } from "./family-store-contract.js";

async function tempDb(): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tokenkit-sqlite-"));
  return { dir, path: join(dir, "data", "tokenkit.db") };
}

describeFamilyStoreContract("sqlite", async () => {
  const { dir, path } = await tempDb();
  const store = createSqliteFamilyStore({ path });
  return {
    store,
    reopen: async () => createSqliteFamilyStore({ path }),
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("SQLite family store specifics", () => {
  it("persists across reopen, in WAL mode, in a 0600 file inside a 0700 directory", async () => {
    const { dir, path } = await tempDb();
    const a = createSqliteFamilyStore({ path });
    await a.createFamily(family("f1"), token("h0", "f1"));
    await a.close();
    const b = createSqliteFamilyStore({ path });
    expect(await b.getFamily("f1")).toEqual(family("f1"));
    await b.close();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "data"))).mode & 0o777).toBe(0o700);
    const raw = connectSqlite(path, { readonly: true });
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(raw.pragma("user_version", { simple: true })).toBe(SQLITE_MIGRATIONS.length);
    raw.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a database written by a newer schema", async () => {
    const { dir, path } = await tempDb();
    await createSqliteFamilyStore({ path }).close();
    const raw = connectSqlite(path);
    raw.pragma(`user_version = ${SQLITE_MIGRATIONS.length + 1}`);
    raw.close();
    expect(() => createSqliteFamilyStore({ path })).toThrow(/newer than this tokenkit knows/);
    await rm(dir, { recursive: true, force: true });
  });

  it("a real TokenService on SQLite leaves no token text in the database or its WAL", async () => {
    const { dir, path } = await tempDb();
    const f = await createTokenServerFixture({ store: createSqliteFamilyStore({ path }) });
    const p0 = (await f.issue({ subject: "alice" })).tokenPair!;
    const p1 = (await f.tokens.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    const files = [path, `${path}-wal`];
    const bytes = Buffer.concat(await Promise.all(files.map((p) => readFile(p).catch(() => Buffer.alloc(0)))));
    expect(bytes.length).toBeGreaterThan(0);
    for (const t of [p0.refreshToken, p0.accessToken, p1.refreshToken, p1.accessToken]) {
      for (const part of t.split(".")) {
        expect(bytes.includes(part)).toBe(false);
      }
    }
    await f.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a process killed with SIGKILL mid-rotation leaves a consistent database", async () => {
    const { dir, path } = await tempDb();
    const fixture = fileURLToPath(new URL("./fixtures/rotate-forever.mjs", import.meta.url));
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, [fixture, path, String(round)], { stdio: ["ignore", "pipe", "inherit"] });
      // Wait until it has rotated a while, then kill it without warning.
      await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.includes("rotating") && resolve()));
      await new Promise((r) => setImmediate(r));
      child.kill("SIGKILL");
      await once(child, "exit");
      const raw = connectSqlite(path);
      expect(raw.pragma("integrity_check", { simple: true })).toBe("ok");
      // No half-done rotation: every spent token has its successor row and box, and generations are contiguous.
      const orphans = raw
        .prepare("SELECT count(*) FROM refresh_tokens t WHERE t.spent_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM refresh_tokens s WHERE s.hash = t.successor_hash)")
        .pluck()
        .get();
      expect(orphans).toBe(0);
      const unspent = raw.prepare("SELECT sid, count(*) AS n FROM refresh_tokens WHERE spent_at IS NULL GROUP BY sid").all() as { n: number }[];
      expect(unspent.every((r) => r.n === 1)).toBe(true);
      raw.close();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("validates options", () => {
    expect(() => createSqliteFamilyStore({ path: "" })).toThrow(/path/);
    expect(() => createSqliteFamilyStore({ path: "x.db", busyTimeoutMs: -1 })).toThrow(/busyTimeoutMs/);
  });
});

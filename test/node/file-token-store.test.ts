import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { acquireFileLock } from "../../src/node/file-lock.js";
import { createFileTokenStore } from "../../src/node/file-token-store.js";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const token = (i: number) => ({ accessToken: `a${i}`, refreshToken: `r${i}`, receivedAt: i, expiresAt: i + 1000, scopes: ["x"] });

async function tempPath(): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tokenkit-file-"));
  return { dir, path: join(dir, "state", "token.json") };
}

describe("file token store", () => {
  it("round-trips, in a 0600 file in a 0700 directory, leaving no temporary files", async () => {
    const { dir, path } = await tempPath();
    const store = createFileTokenStore({ path });
    expect(await store.load()).toBeUndefined();
    await store.save(token(1));
    await store.save(token(2));
    expect(await store.load()).toEqual(token(2));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, "state"))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir, "state"))).toEqual(["token.json"]);
    await store.save(undefined);
    expect(await store.load()).toBeUndefined();
  });

  it("replaces a file that had a wider mode with a 0600 one", async () => {
    const { path } = await tempPath();
    const store = createFileTokenStore({ path });
    await store.save(token(1));
    await writeFile(path, JSON.stringify({ version: 1, token: token(1) }), { mode: 0o644 });
    await import("node:fs/promises").then((fs) => fs.chmod(path, 0o644));
    await store.save(token(2));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("refuses a corrupt file with ERR_TOKEN_STORE_CORRUPT, naming the path but not the content", async () => {
    const { path } = await tempPath();
    const store = createFileTokenStore({ path });
    await store.save(token(1));
    await writeFile(path, '{"version":1,"token":{"accessToken":"SECRET-PART');
    const err = await store.load().catch((e: unknown) => e as Error & { code: string });
    expect(err).toMatchObject({ code: "ERR_TOKEN_STORE_CORRUPT" });
    expect(err!.message).toContain(path);
    expect(err!.message).not.toContain("SECRET");
  });

  it("a process killed with SIGKILL while saving never leaves a truncated or unparsable file", async () => {
    const { path } = await tempPath();
    for (let round = 0; round < 20; round++) {
      const child = spawn(process.execPath, [fixture("save-forever.mjs"), path], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.includes("saving") && resolve()));
      // Kill at a varying point of the write cycle.
      for (let i = 0; i < round % 7; i++) await new Promise((r) => setImmediate(r));
      child.kill("SIGKILL");
      await once(child, "exit");
      const loaded = await createFileTokenStore({ path }).load();
      expect(loaded?.accessToken).toMatch(/^a\d+-x{2000}$/);
      expect(loaded?.refreshToken).toBe(`r${loaded!.accessToken.split("-")[0]!.slice(1)}`);
    }
  });

  it("lock: two real processes incrementing a counter 200 times each under the lock lose no update", async () => {
    const { dir, path } = await tempPath();
    const counter = join(dir, "counter");
    const children = [0, 1].map(() => spawn(process.execPath, [fixture("lock-counter.mjs"), path, counter, "200"], { stdio: "inherit" }));
    const codes = await Promise.all(children.map(async (c) => (await once(c, "exit"))[0]));
    expect(codes).toEqual([0, 0]);
    expect(await readFile(counter, "utf8")).toBe("400");
  });

  it("lock: a lock left by a dead process is taken over; an aborted wait rejects promptly", async () => {
    const { dir } = await tempPath();
    const lockPath = join(dir, "x.lock");
    // A pid that does not exist (pid_max is far below 2^22 + 12345 on this kernel or the kill fails with ESRCH).
    const dead = spawn(process.execPath, ["-e", ""]);
    await once(dead, "exit");
    await writeFile(lockPath, JSON.stringify({ pid: dead.pid, createdAt: Date.now() }));
    const release = await acquireFileLock(lockPath, { timeoutMs: 2000 });
    const ac = new AbortController();
    const waiting = acquireFileLock(lockPath, { timeoutMs: 60_000, signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: "ERR_LOCK_ABORTED" });
    await expect(acquireFileLock(lockPath, { timeoutMs: 30 })).rejects.toMatchObject({ code: "ERR_LOCK_TIMEOUT" });
    await release();
    const again = await acquireFileLock(lockPath, { timeoutMs: 100 });
    await again();
  });

  it("validates options", () => {
    expect(() => createFileTokenStore({ path: "" })).toThrow(/path/);
    expect(() => createFileTokenStore({ path: "x", lockTimeoutMs: 0 })).toThrow(/lockTimeoutMs/);
  });
});

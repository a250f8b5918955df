import { spawn } from "node:child_process";
import { once } from "node:events";
import { statSync } from "node:fs";
import { mkdtemp, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { acquireFileLock, FileLockError } from "../../src/node/file-lock.js";
import { createManualClock, until } from "../helpers/manual-clock.js";

async function lockPath(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), "tokenkit-lock-")), "token.json.lock");
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""]);
  await once(child, "exit");
  return child.pid!;
}

const owner = async (path: string) => JSON.parse(await readFile(path, "utf8")) as { pid: number; hostname: string; nonce: string };
const ago = (ms: number) => new Date(Date.now() - ms);

describe("acquireFileLock", () => {
  it("writes the owner (pid, host, nonce) into an exclusive 0600 file and removes it on release", async () => {
    const path = await lockPath();
    const release = await acquireFileLock(path);
    expect(await owner(path)).toMatchObject({ pid: process.pid, hostname: hostname(), nonce: expect.stringMatching(/^[0-9a-f]{24}$/) });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await release();
    await expect(stat(path)).rejects.toMatchObject({ code: "ENOENT" });
    await release(); // idempotent
  });

  it("takes over a lock whose owner process is dead", async () => {
    const path = await lockPath();
    await writeFile(path, JSON.stringify({ pid: await deadPid(), hostname: hostname(), acquiredAt: Date.now(), nonce: "old" }));
    const release = await acquireFileLock(path, { timeoutMs: 2000 });
    expect((await owner(path)).pid).toBe(process.pid);
    await release();
  });

  it("takes over a lock of a live process only once it was not touched for staleMs", async () => {
    const path = await lockPath();
    // The owner (our parent, alive) holds it and touched it just now: we time out.
    await writeFile(path, JSON.stringify({ pid: process.ppid, hostname: hostname(), acquiredAt: Date.now(), nonce: "live" }));
    const err = await acquireFileLock(path, { timeoutMs: 30, staleMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileLockError);
    expect(err).toMatchObject({ code: "ERR_LOCK_TIMEOUT", message: expect.stringContaining(`held by pid ${process.ppid}`) });
    // Hung: not touched for longer than staleMs → taken over.
    await utimes(path, ago(120_000), ago(120_000));
    const release = await acquireFileLock(path, { timeoutMs: 2000, staleMs: 60_000 });
    expect((await owner(path)).pid).toBe(process.pid);
    await release();
  });

  it("an empty lock file (its owner died between creating and writing it) is taken over once stale, not waited on forever", async () => {
    const path = await lockPath();
    await writeFile(path, "");
    // Fresh: it may be an owner writing it right now.
    await expect(acquireFileLock(path, { timeoutMs: 30, staleMs: 60_000 })).rejects.toMatchObject({ code: "ERR_LOCK_TIMEOUT" });
    await utimes(path, ago(3_600_000), ago(3_600_000));
    const release = await acquireFileLock(path, { timeoutMs: 2000, staleMs: 60_000 });
    expect((await owner(path)).pid).toBe(process.pid);
    await release();
  });

  it("many waiters racing for one stale lock: exactly one holds it at a time", async () => {
    const path = await lockPath();
    await writeFile(path, JSON.stringify({ pid: await deadPid(), hostname: hostname(), acquiredAt: 0, nonce: "dead" }));
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const release = await acquireFileLock(path, { timeoutMs: 10_000, retryDelayMs: 1, maxRetryDelayMs: 5 });
        inside++;
        max = Math.max(max, inside);
        await new Promise((r) => setImmediate(r));
        inside--;
        await release();
      }),
    );
    expect(max).toBe(1);
  });

  it("release never removes a lock that someone else took over meanwhile", async () => {
    const path = await lockPath();
    const release = await acquireFileLock(path);
    // Another process decided we were stale and took the lock.
    await writeFile(path, JSON.stringify({ pid: process.ppid, hostname: hostname(), acquiredAt: Date.now(), nonce: "theirs" }));
    await release();
    expect((await owner(path)).nonce).toBe("theirs");
  });

  it("while held, the holder touches the lock every staleMs / 3 so a slow holder is not taken over", async () => {
    const path = await lockPath();
    const clock = createManualClock(Date.now());
    const release = await acquireFileLock(path, { clock, staleMs: 30_000 });
    await utimes(path, ago(25_000), ago(25_000));
    clock.advance(10_000);
    await until(() => Date.now() - statSync(path).mtimeMs < 5_000);
    await release();
    expect(clock.timers).toBe(0);
  });

  it("an aborted wait rejects promptly with ERR_LOCK_ABORTED (and the reason as cause)", async () => {
    const path = await lockPath();
    const release = await acquireFileLock(path);
    const ac = new AbortController();
    const waiting = acquireFileLock(path, { timeoutMs: 60_000, signal: ac.signal });
    const reason = new Error("shutting down");
    ac.abort(reason);
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "ERR_LOCK_ABORTED", cause: reason });
    // An already-aborted signal rejects before touching the file.
    await expect(acquireFileLock(path, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "ERR_LOCK_ABORTED" });
    await release();
  });

  it("validates options", async () => {
    await expect(acquireFileLock("", {})).rejects.toThrow(TypeError);
    await expect(acquireFileLock(await lockPath(), { timeoutMs: -1 })).rejects.toThrow(/timeoutMs/);
    await expect(acquireFileLock(await lockPath(), { staleMs: Number.NaN })).rejects.toThrow(/staleMs/);
  });
});

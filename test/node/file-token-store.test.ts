import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { StoredToken } from "../../src/client/token-store.js";
import { TokenStoreCorruptError } from "../../src/client/stored-token-codec.js";
import { createFileTokenStore } from "../../src/node/file-token-store.js";

// The fixtures import dist/ (a plain child process cannot load .ts on Node 20): `npm test` builds it first.
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const token = (i: number): StoredToken => ({ accessToken: `a${i}`, refreshToken: `r${i}`, receivedAt: i, expiresAt: i + 1000, scopes: ["x"] });

async function tempPath(): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "tokenkit-file-"));
  return { dir, path: join(dir, "state", "token.json") };
}

async function corruptError(p: Promise<unknown>): Promise<TokenStoreCorruptError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenStoreCorruptError);
  expect(err).toMatchObject({ code: "ERR_TOKEN_STORE_CORRUPT" });
  return err as TokenStoreCorruptError;
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
    expect(await readdir(join(dir, "state"))).toEqual([]);
    await store.save(undefined); // clearing twice is fine
  });

  it("copies: a caller's change to a saved or loaded token does not reach the file", async () => {
    const { path } = await tempPath();
    const store = createFileTokenStore({ path });
    const t = token(1);
    await store.save(t);
    t.scopes!.push("widened");
    const loaded = (await store.load())!;
    loaded.scopes!.push("again");
    expect((await store.load())!.scopes).toEqual(["x"]);
  });

  it("a save over an existing 0644 file leaves a 0600 file; a load narrows a widened file to 0600", async () => {
    const { path } = await tempPath();
    const store = createFileTokenStore({ path });
    await store.save(token(1));
    await chmod(path, 0o644);
    await store.save(token(2));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await chmod(path, 0o644);
    expect(await store.load()).toEqual(token(2));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it("refuses a corrupt file with ERR_TOKEN_STORE_CORRUPT, naming the path but never the content", async () => {
    const { path } = await tempPath();
    const store = createFileTokenStore({ path });
    await store.save(token(1));
    await writeFile(path, '{"version":1,"token":{"accessToken":"SECRET-PART');
    const err = await corruptError(store.load());
    expect(err.message).toContain(path);
    expect(err.message).not.toContain("SECRET");
    expect(JSON.stringify(err)).not.toContain("SECRET");
    expect(err.cause).toBeUndefined();
    // Valid JSON that is not a token, a future format version, an empty file.
    await writeFile(path, JSON.stringify({ version: 1, token: { accessToken: "SECRET", receivedAt: "yesterday", expiresAt: 1 } }));
    expect((await corruptError(store.load())).message).toMatch(/receivedAt/);
    await writeFile(path, JSON.stringify({ version: 2, token: token(1) }));
    expect((await corruptError(store.load())).message).toMatch(/version 2/);
    await writeFile(path, "");
    await corruptError(store.load());
    // A save repairs it.
    await store.save(token(3));
    expect(await store.load()).toEqual(token(3));
  });

  it("SIGKILLed at 24 random moments while saving in a tight loop: every read, during and after, is a complete token", async () => {
    const { dir, path } = await tempPath();
    const store = createFileTokenStore({ path });
    const check = (t: StoredToken | undefined) => {
      expect(t).toBeDefined();
      const i = /^a(\d+)-x+$/.exec(t!.accessToken)?.[1];
      expect(i).toBeDefined();
      expect(t!.refreshToken).toBe(`r${i}`);
      expect(t!.sessionId).toBe(String(t!.accessToken.length));
      return Number(i);
    };
    let readsDuringWrites = 0;
    for (let round = 0; round < 24; round++) {
      const child = spawn(process.execPath, [fixture("save-forever.mjs"), path], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.includes("saving") && resolve()));
      // The kill lands after a random number of concurrent reads, each checked: readers never see half a write.
      const reads = Math.floor(Math.random() * 40);
      for (let r = 0; r < reads; r++) {
        check(await store.load());
        readsDuringWrites++;
      }
      child.kill("SIGKILL");
      await once(child, "exit");
      check(await store.load());
    }
    expect(readsDuringWrites).toBeGreaterThan(0);
    // Temporary files orphaned by the kills are swept by the next process's first save.
    await createFileTokenStore({ path }).save(token(9));
    expect(await readdir(join(dir, "state"))).toEqual(["token.json"]);
  });

  it("sweeps only temporary files of dead processes, never a live writer's", async () => {
    const { dir, path } = await tempPath();
    await mkdir(join(dir, "state"), { recursive: true });
    const dead = spawn(process.execPath, ["-e", ""]);
    await once(dead, "exit");
    const orphan = `token.json.${dead.pid}.0123456789ab.tmp`;
    const live = `token.json.${process.ppid}.0123456789ab.tmp`;
    const unrelated = "other.json.1.ab.tmp";
    for (const n of [orphan, live, unrelated]) await writeFile(join(dir, "state", n), "x");
    await createFileTokenStore({ path }).save(token(1));
    expect((await readdir(join(dir, "state"))).sort()).toEqual([unrelated, live, "token.json"].sort());
  });

  it("lock: two real processes incrementing a counter 200 times each under the lock lose no update", async () => {
    const { dir, path } = await tempPath();
    const counter = join(dir, "counter");
    const children = [0, 1].map(() => spawn(process.execPath, [fixture("lock-counter.mjs"), path, counter, "200"], { stdio: "inherit" }));
    const codes = await Promise.all(children.map(async (c) => (await once(c, "exit"))[0]));
    expect(codes).toEqual([0, 0]);
    expect(await readFile(counter, "utf8")).toBe("400");
    // Released every time: nothing is left behind.
    expect((await readdir(join(dir, "state"))).filter((n) => n.includes(".lock"))).toEqual([]);
  });

  it("lock: callers in one process, even through two store objects, hold it one at a time; an aborted waiter leaves the queue", async () => {
    const { path } = await tempPath();
    const a = createFileTokenStore({ path });
    const b = createFileTokenStore({ path });
    let inside = 0;
    let max = 0;
    const order: number[] = [];
    const work = (i: number) => async () => {
      inside++;
      max = Math.max(max, inside);
      await new Promise((r) => setImmediate(r));
      order.push(i);
      inside--;
      return i;
    };
    const ac = new AbortController();
    const runs = [a.lock!(work(0)), b.lock!(work(1)), a.lock!(work(2), { signal: ac.signal }), b.lock!(work(3))];
    ac.abort(new Error("caller gave up"));
    const settled = await Promise.allSettled(runs);
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect((settled[2] as PromiseRejectedResult).reason).toMatchObject({ code: "ERR_LOCK_ABORTED", cause: { message: "caller gave up" } });
    expect(order).toEqual([0, 1, 3]);
    expect(max).toBe(1);
    // A failing holder releases the lock.
    await expect(a.lock!(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await b.lock!(async () => 42)).toBe(42);
  });

  it("validates options", () => {
    expect(() => createFileTokenStore({ path: "" })).toThrow(/path/);
    expect(() => createFileTokenStore({ path: "x", lockTimeoutMs: 0 })).toThrow(/lockTimeoutMs/);
    expect(() => createFileTokenStore({ path: "x", staleLockMs: Number.NaN })).toThrow(/staleLockMs/);
  });
});

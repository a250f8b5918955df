import Database from "better-sqlite3";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createFileTokenStore } from "../../src/node/file-token-store.js";
import { localPathLocks } from "../../src/node/local-path-lock.js";
import { startStoreJanitor } from "../../src/server/store-janitor.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import { createSqliteFamilyStore } from "../../src/server/store/sqlite-family-store.js";
import { SQLITE_MIGRATIONS } from "../../src/server/store/sqlite-migrations.js";
import { until } from "../helpers/manual-clock.js";
import { createTokenServerFixture } from "../helpers/token-server-fixture.js";
import { family, token } from "../store/family-store-contract.js";

// What a long-running server keeps must be bounded by what is alive, not by
// everything that ever happened.
const settle = () => until(() => false, 50).catch(() => {});

describe("the token store does not grow without bound", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    vi.restoreAllMocks();
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "tokenkit-growth-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  it("sessions that expired are deleted with their refresh records: 200 sessions of 60 s leave nothing behind", async () => {
    const f = await createTokenServerFixture({ store: createSqliteFamilyStore({ path: join(await tempDir(), "tokenkit.db") }) });
    cleanups.push(() => f.close());
    const janitor = startStoreJanitor({ store: f.store, clock: f.clock, intervalMs: 600_000 });
    cleanups.push(async () => janitor.stop());
    const sids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const p = (await f.issue({ subject: `s${i}`, refreshTokenTtlSeconds: 60n })).tokenPair!;
      if (i % 2 === 0) await f.tokens.refreshToken({ refreshToken: p.refreshToken });
      if (i % 10 === 0) await f.tokens.revokeToken({ token: p.accessToken });
      sids.push(p.sessionId);
    }
    // Past any clock tolerance (1 h) after the refresh records and the revocations expired; a purge every 10 min.
    for (let i = 0; i < 13; i++) {
      f.clock.advance(600_000);
      await settle();
    }
    const left = await Promise.all(sids.map((sid) => f.store.getFamily(sid)));
    expect(left.filter((x) => x !== undefined)).toEqual([]);
    expect(await f.store.revocationsSince(0)).toEqual([]);
    expect(await janitor.runOnce()).toBe(0);
  });

  it("the memory store answers a revocation poll without visiting every family", async () => {
    const store = createMemoryFamilyStore();
    const T0 = 1_800_000_000;
    for (let i = 0; i < 20_000; i++) {
      await store.createFamily(family(`f${i}`), token(`h${i}`, `f${i}`));
    }
    for (const [i, at] of [[7, 5], [70, 6], [700, 7]] as const) {
      await store.revokeFamily(`f${i}`, T0 + at, "revoked");
    }
    // Count every step taken through a Map iterator during the poll.
    const mapIterator = Object.getPrototypeOf(new Map().values()) as { next: () => unknown };
    const steps = vi.spyOn(mapIterator, "next");
    const rows = await store.revocationsSince(T0 + 6);
    expect(rows.map((r) => r.sid)).toEqual(["f70", "f700"]);
    expect(steps.mock.calls.length).toBeLessThan(10);
  });

  it("SQLite: a data dir written before the successor-box index opens, gains the index, and keeps rotating", async () => {
    const path = join(await tempDir(), "tokenkit.db");
    // A database at schema version 1, holding a family mid-rotation, as the previous release left it.
    const old = new Database(path);
    old.pragma("journal_mode = WAL");
    old.exec(SQLITE_MIGRATIONS[0]!);
    old.pragma("user_version = 1");
    old.close();
    const T0 = Math.floor(Date.now() / 1000);
    const v1 = createSqliteFamilyStore({ path });
    cleanups.push(() => v1.close());
    const raw = new Database(path, { readonly: true });
    cleanups.push(async () => raw.close());
    expect(raw.pragma("user_version", { simple: true })).toBe(SQLITE_MIGRATIONS.length);
    await v1.createFamily(family("f1", { createdAt: T0 }), token("h0", "f1", T0));
    const successor = (hash: string, now: number) => ({ record: token(hash, "f1", now), box: new Uint8Array([1, 2, 3]) });
    expect((await v1.rotate({ presentedHash: "h0", now: T0 + 1, graceSeconds: 30, successor: successor("h1", T0 + 1) })).kind).toBe("rotated");
    expect((await v1.rotate({ presentedHash: "h0", now: T0 + 2, graceSeconds: 30 })).kind).toBe("grace");
    expect((await v1.rotate({ presentedHash: "h1", now: T0 + 3, graceSeconds: 30, successor: successor("h2", T0 + 3) })).kind).toBe("rotated");
    // The janitor's box purge is an index range scan, not a scan of every refresh token.
    const plan = raw
      .prepare("EXPLAIN QUERY PLAN UPDATE refresh_tokens SET successor_box = NULL WHERE successor_box IS NOT NULL AND spent_at < ?")
      .all(T0) as { detail: string }[];
    expect(plan.map((r) => r.detail).join("\n")).toMatch(/USING INDEX refresh_tokens_boxes/);
    expect(await v1.purge(T0 - 3600, T0 + 4)).toBe(2);
  });

  it("the file token store keeps no per-path lock entry once a path is released: 300 paths, then none left", async () => {
    const dir = await tempDir();
    const base = localPathLocks.size;
    let held = -1;
    for (let i = 0; i < 300; i++) {
      const store = createFileTokenStore({ path: join(dir, `t${i}.json`) });
      await store.lock(async () => {
        held = localPathLocks.size;
      });
    }
    expect(held).toBe(base + 1);
    expect(localPathLocks.size).toBe(base);
    // Two stores on one path still queue behind each other in this process.
    const path = join(dir, "shared.json");
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = createFileTokenStore({ path }).lock(async () => {
      order.push("first in");
      await new Promise<void>((r) => (releaseFirst = r));
      order.push("first out");
    });
    await until(() => order.length === 1);
    const second = createFileTokenStore({ path }).lock(async () => {
      order.push("second");
    });
    await settle();
    expect(order).toEqual(["first in"]);
    releaseFirst();
    await Promise.all([first, second]);
    expect(order).toEqual(["first in", "first out", "second"]);
    expect(localPathLocks.size).toBe(base);
  });
});

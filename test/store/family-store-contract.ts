import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { FamilyRecord, FamilyStore, RefreshRecord } from "../../src/server/store/family-store.js";

/** An opened store under test and how to dispose of it. */
export interface OpenedStore {
  store: FamilyStore;
  /** reopen returns a second handle on the same data (a restart, or another instance); absent for memory. */
  reopen?: () => Promise<FamilyStore>;
  cleanup(): Promise<void>;
}

const T0 = 1_800_000_000;

export function family(sid: string, extra: Partial<FamilyRecord> = {}): FamilyRecord {
  return {
    sid,
    subject: "alice",
    scopes: ["a", "b"],
    audiences: ["https://api.test"],
    metadata: { team: "infra" },
    accessTtlSeconds: 3600,
    refreshTtlSeconds: 86_400,
    createdAt: T0,
    ...extra,
  };
}

export function token(hash: string, sid: string, issuedAt = T0): Omit<RefreshRecord, "generation"> {
  return { hash, sid, issuedAt, expiresAt: issuedAt + 86_400 };
}

const box = (n: number) => new Uint8Array([n, 0, 255, n]);

/**
 * describeFamilyStoreContract runs the one behavioural contract every
 * FamilyStore must meet (memory, SQLite, Postgres): the same suite, unchanged.
 */
export function describeFamilyStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`FamilyStore contract: ${name}`, () => {
    let o: OpenedStore;
    let s: FamilyStore;
    beforeEach(async () => {
      o = await open();
      s = o.store;
    });
    afterEach(async () => {
      await o.cleanup();
    });

    async function rotate(from: string, to: string, now = T0 + 10, grace = 30) {
      return s.rotate({ presentedHash: from, now, graceSeconds: grace, successor: { record: token(to, "f1", now), box: box(to.length) } });
    }

    it("round-trips every field of a family; optional fields stay absent", async () => {
      await s.createFamily(family("p"), token("hp", "p"));
      const full = family("f1", {
        actor: { sub: "agent-2", act: { sub: "agent-1" } },
        absoluteExpiresAt: T0 + 999,
        parentSid: "p",
        metadata: { "k ü": "v\n\"x\"" },
        scopes: [],
      });
      await s.createFamily(full, token("h0", "f1"));
      expect(await s.getFamily("f1")).toEqual(full);
      const plain = await s.getFamily("p");
      expect(plain).toEqual(family("p"));
      expect(Object.keys(plain!)).not.toContain("actor");
      expect(Object.keys(plain!)).not.toContain("revokedAt");
      expect(await s.getFamily("missing")).toBeUndefined();
    });

    it("refuses a duplicate sid or token hash instead of overwriting", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await expect(s.createFamily(family("f1"), token("h9", "f1"))).rejects.toBeInstanceOf(ConnectError);
      await expect(s.createFamily(family("f2"), token("h0", "f2"))).rejects.toBeInstanceOf(ConnectError);
      expect(await s.getFamily("f2")).toBeUndefined();
    });

    it("rotates: unknown → unknown; current without successor → current; with successor → rotated", async () => {
      expect(await s.rotate({ presentedHash: "nope", now: T0, graceSeconds: 30 })).toEqual({ kind: "unknown" });
      await s.createFamily(family("f1"), token("h0", "f1"));
      const probe = await s.rotate({ presentedHash: "h0", now: T0, graceSeconds: 30 });
      expect(probe).toEqual({ kind: "current", family: family("f1") });
      expect(await rotate("h0", "h1")).toEqual({ kind: "rotated", generation: 1 });
      expect(await rotate("h1", "h2", T0 + 20)).toEqual({ kind: "rotated", generation: 2 });
    });

    it("expiry is the store's decision: at expiresAt a token is expired, spent or not, before any reuse rule", async () => {
      await s.createFamily(family("f1"), { ...token("h0", "f1"), expiresAt: T0 + 100 });
      expect(await s.rotate({ presentedHash: "h0", now: T0 + 99, graceSeconds: 30 })).toMatchObject({ kind: "current" });
      expect(await rotate("h0", "h1", T0 + 100)).toEqual({ kind: "expired" });
      expect(await s.rotate({ presentedHash: "h0", now: T0 + 100, graceSeconds: 30 })).toEqual({ kind: "expired" });
      // An expired spent token is not reuse: the family stays live.
      expect(await rotate("h0", "h1", T0 + 50)).toEqual({ kind: "rotated", generation: 1 });
      expect(await s.rotate({ presentedHash: "h0", now: T0 + 200, graceSeconds: 30 })).toEqual({ kind: "expired" });
      expect((await s.getFamily("f1"))!.revokedAt).toBeUndefined();
    });

    it("a rotation that fails (its successor hash exists) changes nothing, and rotations made with it are unaffected", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await s.createFamily(family("f2"), token("k0", "f2"));
      await s.createFamily(family("f3"), token("x0", "f3"));
      const [bad, good, other] = await Promise.allSettled([
        rotate("h0", "x0"),
        s.rotate({ presentedHash: "k0", now: T0 + 10, graceSeconds: 30, successor: { record: token("k1", "f2", T0 + 10), box: box(1) } }),
        s.rotate({ presentedHash: "nope", now: T0 + 10, graceSeconds: 30 }),
      ]);
      expect(bad.status).toBe("rejected");
      expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(ConnectError);
      expect(((bad as PromiseRejectedResult).reason as ConnectError).code).toBe(Code.Aborted);
      expect(good).toEqual({ status: "fulfilled", value: { kind: "rotated", generation: 1 } });
      expect(other).toEqual({ status: "fulfilled", value: { kind: "unknown" } });
      // h0 was not spent: it still rotates.
      expect(await s.rotate({ presentedHash: "h0", now: T0 + 11, graceSeconds: 30 })).toMatchObject({ kind: "current" });
      expect(await rotate("h0", "h1", T0 + 12)).toEqual({ kind: "rotated", generation: 1 });
    });

    it("sessionOf names the family of any stored hash, spent or not, and nothing else", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await rotate("h0", "h1", T0);
      expect(await s.sessionOf("h0")).toBe("f1");
      expect(await s.sessionOf("h1")).toBe("f1");
      expect(await s.sessionOf("nope")).toBeUndefined();
    });

    it("grace: the immediate predecessor within grace returns the byte-identical box", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await s.rotate({ presentedHash: "h0", now: T0, graceSeconds: 30, successor: { record: token("h1", "f1", T0), box: box(7) } });
      const r = await s.rotate({ presentedHash: "h0", now: T0 + 30, graceSeconds: 30 });
      expect(r.kind).toBe("grace");
      expect(Array.from((r as { box: Uint8Array }).box)).toEqual(Array.from(box(7)));
      // A successor offered for a spent token does not rotate again.
      const again = await rotate("h0", "hX", T0 + 1);
      expect(again.kind).toBe("grace");
      expect(await s.rotate({ presentedHash: "hX", now: T0 + 2, graceSeconds: 30 })).toEqual({ kind: "unknown" });
    });

    it("reuse after grace revokes the family and its descendants", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await s.createFamily(family("c1", { parentSid: "f1" }), token("c0", "c1"));
      await s.createFamily(family("g1", { parentSid: "c1" }), token("g0", "g1"));
      await s.createFamily(family("other"), token("o0", "other"));
      await rotate("h0", "h1", T0);
      const r = await s.rotate({ presentedHash: "h0", now: T0 + 31, graceSeconds: 30 });
      expect(r.kind).toBe("reused");
      expect([...(r as { revokedSids: string[] }).revokedSids].sort()).toEqual(["c1", "f1", "g1"]);
      expect((await s.getFamily("f1"))!.revokeReason).toBe("reused");
      expect((await s.getFamily("c1"))!.revokeReason).toBe("parent_revoked");
      expect((await s.getFamily("g1"))!.revokedAt).toBe(T0 + 31);
      expect((await s.getFamily("other"))!.revokedAt).toBeUndefined();
      expect(await s.rotate({ presentedHash: "h1", now: T0 + 32, graceSeconds: 30 })).toEqual({ kind: "revoked", reason: "reused" });
      expect(await s.rotate({ presentedHash: "c0", now: T0 + 32, graceSeconds: 30 })).toEqual({ kind: "revoked", reason: "parent_revoked" });
    });

    it("a grandparent inside grace is reuse", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await rotate("h0", "h1", T0);
      await rotate("h1", "h2", T0 + 1);
      expect((await s.rotate({ presentedHash: "h0", now: T0 + 2, graceSeconds: 30 })).kind).toBe("reused");
    });

    it("grace 0 disables the grace window", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await rotate("h0", "h1", T0);
      expect((await s.rotate({ presentedHash: "h0", now: T0, graceSeconds: 0 })).kind).toBe("reused");
    });

    it("50 concurrent rotations of one token: exactly one rotates, the others see grace", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => rotate("h0", `n${i}`, T0 + 1)));
      expect(results.filter((r) => r.kind === "rotated")).toHaveLength(1);
      expect(results.filter((r) => r.kind === "grace")).toHaveLength(49);
      expect((await s.getFamily("f1"))!.revokedAt).toBeUndefined();
    });

    it("concurrent rotations through a second handle on the same data rotate once", async () => {
      if (o.reopen === undefined) return;
      const other = await o.reopen();
      try {
        await s.createFamily(family("f1"), token("h0", "f1"));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? other : s).rotate({ presentedHash: "h0", now: T0 + 1, graceSeconds: 30, successor: { record: token(`m${i}`, "f1", T0 + 1), box: box(i) } }),
          ),
        );
        expect(results.filter((r) => r.kind === "rotated")).toHaveLength(1);
        expect(results.filter((r) => r.kind === "grace")).toHaveLength(19);
      } finally {
        await other.close();
      }
    });

    it("revokeFamily revokes descendants once and reports only newly revoked sids", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await s.createFamily(family("c1", { parentSid: "f1" }), token("c0", "c1"));
      expect(await s.revokeFamily("c1", T0 + 1, "revoked")).toEqual(["c1"]);
      expect((await s.revokeFamily("f1", T0 + 2, "revoked")).sort()).toEqual(["f1"]);
      expect(await s.revokeFamily("f1", T0 + 3, "revoked")).toEqual([]);
      expect(await s.revokeFamily("unknown", T0 + 3, "revoked")).toEqual([]);
      expect((await s.getFamily("c1"))!.revokedAt).toBe(T0 + 1);
      // expiresAt: the revocation time plus the family's access TTL (3600 s).
      expect(await s.revocationsSince(T0 + 2)).toEqual([{ sid: "f1", revokedAt: T0 + 2, expiresAt: T0 + 3602 }]);
      expect(await s.revocationsSince(T0)).toEqual([
        { sid: "c1", revokedAt: T0 + 1, expiresAt: T0 + 3601 },
        { sid: "f1", revokedAt: T0 + 2, expiresAt: T0 + 3602 },
      ]);
    });

    it("purge drops expired tokens and old boxes; a purged box makes re-presentation reuse", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await rotate("h0", "h1", T0);
      expect(await s.purge(T0 + 1, T0 + 1)).toBe(1);
      expect((await s.rotate({ presentedHash: "h0", now: T0 + 2, graceSeconds: 30 })).kind).toBe("reused");
      await s.createFamily(family("f2"), token("x0", "f2"));
      expect(await s.purge(T0 + 86_401, 0)).toBeGreaterThanOrEqual(1);
      expect(await s.rotate({ presentedHash: "x0", now: T0 + 86_401, graceSeconds: 30 })).toEqual({ kind: "unknown" });
    });

    it("purge deletes a family once its last refresh record has expired, and only then", async () => {
      await s.createFamily(family("f1"), token("h0", "f1"));
      await rotate("h0", "h1", T0 + 100);
      // h0 expires at T0 + 86 400, h1 at T0 + 86 500: the family lives while h1 does.
      expect(await s.purge(T0 + 86_401, 0)).toBeGreaterThanOrEqual(1);
      expect(await s.getFamily("f1")).toBeDefined();
      expect((await s.rotate({ presentedHash: "h1", now: T0 + 86_401, graceSeconds: 30 })).kind).toBe("current");
      await s.purge(T0 + 86_501, 0);
      expect(await s.getFamily("f1")).toBeUndefined();
      expect(await s.rotate({ presentedHash: "h1", now: T0 + 86_501, graceSeconds: 30 })).toEqual({ kind: "unknown" });
    });

    it("purge keeps a revoked family while its access tokens can live, then deletes it", async () => {
      await s.createFamily(family("f1", { accessTtlSeconds: 7 * 86_400 }), { ...token("h0", "f1"), expiresAt: T0 + 100 });
      await s.revokeFamily("f1", T0 + 10, "revoked");
      await s.purge(T0 + 1000, 0); // the refresh record goes, the revocation stays
      expect((await s.getFamily("f1"))?.revokedAt).toBe(T0 + 10);
      expect(await s.revocationsSince(T0)).toEqual([{ sid: "f1", revokedAt: T0 + 10, expiresAt: T0 + 10 + 7 * 86_400 }]);
      await s.purge(T0 + 11 + 7 * 86_400, 0);
      expect(await s.getFamily("f1")).toBeUndefined();
      expect(await s.revocationsSince(T0)).toEqual([]);
    });

    it("purge deletes a delegated child before its parent (within two purges), never the parent of a live child", async () => {
      await s.createFamily(family("p"), { ...token("hp", "p"), expiresAt: T0 + 100 });
      await s.createFamily(family("c", { parentSid: "p" }), { ...token("hc", "c"), expiresAt: T0 + 200 });
      await s.purge(T0 + 150, 0);
      expect(await s.getFamily("p")).toBeDefined();
      expect(await s.getFamily("c")).toBeDefined();
      await s.purge(T0 + 250, 0);
      await s.purge(T0 + 250, 0);
      expect(await s.getFamily("c")).toBeUndefined();
      expect(await s.getFamily("p")).toBeUndefined();
    });

    it("after close every call fails with Unavailable", async () => {
      await s.close();
      await expect(s.getFamily("x")).rejects.toSatisfy((e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable);
      await expect(s.rotate({ presentedHash: "x", now: T0, graceSeconds: 1 })).rejects.toSatisfy(
        (e: unknown) => e instanceof ConnectError && e.code === Code.Unavailable,
      );
    });
  });
}

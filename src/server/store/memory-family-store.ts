import { Code, ConnectError } from "@connectrpc/connect";
import type {
  FamilyRecord,
  FamilyStore,
  RefreshRecord,
  Revocation,
  RevokeReason,
  RotateResult,
} from "./family-store.js";

/**
 * createMemoryFamilyStore returns a {@link FamilyStore} held in this process:
 * for tests, single-process development and `tokenkit serve --store memory`.
 * Every method runs synchronously inside its promise, so each call is atomic
 * with respect to the others.
 */
export function createMemoryFamilyStore(): FamilyStore {
  const families = new Map<string, FamilyRecord>();
  const children = new Map<string, string[]>();
  const tokens = new Map<string, RefreshRecord>();
  // Revocations in `revokedAt` order, so a poll reads only what is new instead of every family.
  const revocations: Revocation[] = [];
  let closed = false;

  /** firstAt returns the index of the first revocation with `revokedAt` ≥ `since` (> `since` when `after`). */
  function firstAt(since: number, after = false): number {
    let lo = 0;
    let hi = revocations.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = revocations[mid]!.revokedAt;
      if (at < since || (after && at === since)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  function check(): void {
    if (closed) {
      throw new ConnectError("memory token store is closed", Code.Unavailable);
    }
  }

  /** forget deletes a family that has no refresh record and no child left. */
  function forget(sid: string): void {
    const parentSid = families.get(sid)!.parentSid;
    families.delete(sid);
    children.delete(sid);
    if (parentSid !== undefined) {
      const siblings = (children.get(parentSid) ?? []).filter((c) => c !== sid);
      if (siblings.length > 0) children.set(parentSid, siblings);
      else children.delete(parentSid);
    }
  }

  function revoke(sid: string, now: number, reason: RevokeReason): string[] {
    const out: string[] = [];
    const stack: [string, RevokeReason][] = [[sid, reason]];
    while (stack.length > 0) {
      const [s, r] = stack.pop()!;
      const f = families.get(s);
      if (f === undefined) {
        continue;
      }
      if (f.revokedAt === undefined) {
        f.revokedAt = now;
        f.revokeReason = r;
        revocations.splice(firstAt(now, true), 0, { sid: s, revokedAt: now, expiresAt: now + f.accessTtlSeconds });
        out.push(s);
      }
      for (const c of children.get(s) ?? []) {
        stack.push([c, "parent_revoked"]);
      }
    }
    return out;
  }

  return {
    async createFamily(family, first) {
      check();
      if (families.has(family.sid) || tokens.has(first.hash)) {
        throw new ConnectError("memory token store: duplicate key during createFamily; retry", Code.Aborted);
      }
      families.set(family.sid, structuredClone(family));
      if (family.parentSid !== undefined) {
        children.set(family.parentSid, [...(children.get(family.parentSid) ?? []), family.sid]);
      }
      tokens.set(first.hash, { ...first, generation: 0 });
    },
    async getFamily(sid) {
      check();
      const f = families.get(sid);
      return f === undefined ? undefined : structuredClone(f);
    },
    async rotate({ presentedHash, now, graceSeconds, successor }): Promise<RotateResult> {
      check();
      const t = tokens.get(presentedHash);
      if (t === undefined) {
        return { kind: "unknown" };
      }
      if (now >= t.expiresAt) {
        return { kind: "expired" };
      }
      const family = families.get(t.sid)!;
      if (family.revokedAt !== undefined) {
        return { kind: "revoked", reason: family.revokeReason ?? "revoked" };
      }
      if (t.spentAt === undefined) {
        if (successor === undefined) {
          return { kind: "current", family: structuredClone(family) };
        }
        if (tokens.has(successor.record.hash)) {
          throw new ConnectError("successor refresh token already exists", Code.Aborted);
        }
        t.spentAt = now;
        t.successorHash = successor.record.hash;
        t.successorBox = successor.box;
        tokens.set(successor.record.hash, { ...successor.record, generation: t.generation + 1 });
        return { kind: "rotated", generation: t.generation + 1 };
      }
      const next = t.successorHash === undefined ? undefined : tokens.get(t.successorHash);
      if (
        graceSeconds > 0 &&
        now - t.spentAt <= graceSeconds &&
        t.successorBox !== undefined &&
        next !== undefined &&
        next.spentAt === undefined
      ) {
        return { kind: "grace", box: t.successorBox };
      }
      return { kind: "reused", revokedSids: revoke(t.sid, now, "reused") };
    },
    async sessionOf(hash) {
      check();
      return tokens.get(hash)?.sid;
    },
    async revokeFamily(sid, now, reason) {
      check();
      return revoke(sid, now, reason);
    },
    async revocationsSince(since): Promise<Revocation[]> {
      check();
      return revocations.slice(firstAt(since)).map((r) => ({ ...r }));
    },
    async purge(expiredBefore, boxBefore) {
      check();
      let n = 0;
      const holding = new Set<string>();
      for (const [hash, t] of tokens) {
        if (t.expiresAt < expiredBefore) {
          tokens.delete(hash);
          n++;
          continue;
        }
        holding.add(t.sid);
        if (t.successorBox !== undefined && t.spentAt !== undefined && t.spentAt < boxBefore) {
          delete t.successorBox;
          n++;
        }
      }
      const gone = new Set<string>();
      for (const [sid, f] of families) {
        const revocationMatters = f.revokedAt !== undefined && f.revokedAt + f.accessTtlSeconds >= expiredBefore;
        if (!holding.has(sid) && !revocationMatters && !(children.get(sid)?.length)) {
          gone.add(sid);
        }
      }
      for (const sid of gone) {
        forget(sid);
      }
      if (gone.size > 0) {
        let kept = 0;
        for (const r of revocations) {
          if (!gone.has(r.sid)) revocations[kept++] = r;
        }
        revocations.length = kept;
      }
      return n + gone.size;
    },
    async close() {
      closed = true;
    },
  };
}

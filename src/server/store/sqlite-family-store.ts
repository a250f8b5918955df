import type {
  ActorClaim,
  FamilyRecord,
  FamilyStore,
  Revocation,
  RevokeReason,
  RotateResult,
} from "./family-store.js";
import { checkBusyTimeout, openSqliteDatabase, sqliteCall } from "./sqlite-database.js";
import { createGroupCommit } from "./sqlite-group-commit.js";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";

const WHAT = "SQLite token store";

/** SqliteFamilyStoreOptions configures {@link createSqliteFamilyStore}. */
export interface SqliteFamilyStoreOptions {
  /** path is the database file (created with mode 0600, its directory 0700). Required. */
  path: string;
  /**
   * busyTimeoutMs is how long a write waits for another connection's lock
   * before failing with `Unavailable`.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

interface FamilyRow {
  sid: string;
  subject: string;
  scopes: string;
  audiences: string;
  metadata: string;
  actor: string | null;
  access_ttl: number;
  refresh_ttl: number;
  created_at: number;
  absolute_expires_at: number | null;
  parent_sid: string | null;
  revoked_at: number | null;
  revoke_reason: string | null;
}

interface TokenRow {
  sid: string;
  generation: number;
  expires_at: number;
  spent_at: number | null;
  successor_hash: string | null;
  successor_box: Buffer | null;
  revoked_at: number | null;
  revoke_reason: string | null;
}

function toFamily(r: FamilyRow): FamilyRecord {
  const f: FamilyRecord = {
    sid: r.sid,
    subject: r.subject,
    scopes: JSON.parse(r.scopes) as string[],
    audiences: JSON.parse(r.audiences) as string[],
    metadata: JSON.parse(r.metadata) as Record<string, string>,
    accessTtlSeconds: r.access_ttl,
    refreshTtlSeconds: r.refresh_ttl,
    createdAt: r.created_at,
  };
  if (r.actor !== null) f.actor = JSON.parse(r.actor) as ActorClaim;
  if (r.absolute_expires_at !== null) f.absoluteExpiresAt = r.absolute_expires_at;
  if (r.parent_sid !== null) f.parentSid = r.parent_sid;
  if (r.revoked_at !== null) f.revokedAt = r.revoked_at;
  if (r.revoke_reason !== null) f.revokeReason = r.revoke_reason as RevokeReason;
  return f;
}

/**
 * createSqliteFamilyStore returns a {@link FamilyStore} in one SQLite file
 * (better-sqlite3): WAL journal with `synchronous = NORMAL` (a crash or kill
 * loses at most the last commits, never consistency), foreign keys on,
 * versioned migrations, statements prepared once. Each rotation is a
 * compare-and-swap on the presented hash inside a `BEGIN IMMEDIATE`
 * transaction (shared, each in its own savepoint, by the rotations that
 * arrive together), so several processes sharing the file still rotate a
 * token once.
 */
export function createSqliteFamilyStore(options: SqliteFamilyStoreOptions): FamilyStore {
  if (typeof options?.path !== "string" || options.path === "") {
    throw new TypeError('createSqliteFamilyStore: option "path" must be a non-empty string');
  }
  const busyTimeoutMs = checkBusyTimeout("createSqliteFamilyStore", options.busyTimeoutMs);
  const db = openSqliteDatabase({ path: options.path, busyTimeoutMs, migrations: SQLITE_MIGRATIONS, what: WHAT });

  const insertFamily = db.prepare(
    `INSERT INTO families (sid, subject, scopes, audiences, metadata, actor, access_ttl, refresh_ttl, created_at, absolute_expires_at, parent_sid, revoked_at, revoke_reason)
     VALUES (@sid, @subject, @scopes, @audiences, @metadata, @actor, @access_ttl, @refresh_ttl, @created_at, @absolute_expires_at, @parent_sid, NULL, NULL)`,
  );
  const insertToken = db.prepare(
    `INSERT INTO refresh_tokens (hash, sid, generation, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const selectFamily = db.prepare(`SELECT * FROM families WHERE sid = ?`);
  // The presented token with its family's revocation, in one statement: the common rotation reads nothing else.
  const selectToken = db.prepare(
    `SELECT t.sid, t.generation, t.expires_at, t.spent_at, t.successor_hash, t.successor_box, f.revoked_at, f.revoke_reason
     FROM refresh_tokens t JOIN families f ON f.sid = t.sid WHERE t.hash = ?`,
  );
  const selectSession = db.prepare(`SELECT sid FROM refresh_tokens WHERE hash = ?`).pluck();
  const selectSpent = db.prepare(`SELECT spent_at FROM refresh_tokens WHERE hash = ?`).pluck();
  const spend = db.prepare(
    `UPDATE refresh_tokens SET spent_at = ?, successor_hash = ?, successor_box = ? WHERE hash = ? AND spent_at IS NULL`,
  );
  const revokeTree = db.prepare(
    `WITH RECURSIVE tree(sid) AS (SELECT ? UNION SELECT f.sid FROM families f JOIN tree t ON f.parent_sid = t.sid)
     UPDATE families SET revoked_at = ?, revoke_reason = CASE WHEN sid = ? THEN ? ELSE 'parent_revoked' END
     WHERE sid IN (SELECT sid FROM tree) AND revoked_at IS NULL RETURNING sid`,
  ).pluck();
  const selectRevocations = db.prepare(
    `SELECT sid, revoked_at AS revokedAt, revoked_at + access_ttl AS expiresAt FROM families WHERE revoked_at >= ? ORDER BY revoked_at, sid`,
  );
  const deleteExpired = db.prepare(`DELETE FROM refresh_tokens WHERE expires_at < ?`);
  // Families left without a refresh record, whose revocation (if any) no longer matters, with no child left.
  const deleteFamilies = db.prepare(
    `DELETE FROM families WHERE sid IN (
       SELECT f.sid FROM families f
       WHERE (f.revoked_at IS NULL OR f.revoked_at + f.access_ttl < ?)
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.sid = f.sid)
         AND NOT EXISTS (SELECT 1 FROM families c WHERE c.parent_sid = f.sid))`,
  );
  const dropBoxes = db.prepare(
    `UPDATE refresh_tokens SET successor_box = NULL WHERE successor_box IS NOT NULL AND spent_at < ?`,
  );

  function revoke(sid: string, now: number, reason: RevokeReason): string[] {
    return revokeTree.all(sid, now, sid, reason) as string[];
  }

  function rotateOnce(input: Parameters<FamilyStore["rotate"]>[0]): RotateResult {
    const { presentedHash, now, graceSeconds, successor } = input;
    const t = selectToken.get(presentedHash) as TokenRow | undefined;
    if (t === undefined) {
      return { kind: "unknown" };
    }
    if (now >= t.expires_at) {
      return { kind: "expired" };
    }
    if (t.revoked_at !== null) {
      return { kind: "revoked", reason: (t.revoke_reason ?? "revoked") as RevokeReason };
    }
    if (t.spent_at === null) {
      if (successor === undefined) {
        return { kind: "current", family: toFamily(selectFamily.get(t.sid) as FamilyRow) };
      }
      const { record, box } = successor;
      if (spend.run(now, record.hash, Buffer.from(box), presentedHash).changes !== 1) {
        // Unreachable inside an IMMEDIATE transaction; kept as the CAS guard.
        throw new Error("rotation compare-and-swap failed");
      }
      insertToken.run(record.hash, record.sid, t.generation + 1, record.issuedAt, record.expiresAt);
      return { kind: "rotated", generation: t.generation + 1 };
    }
    const successorSpent = t.successor_hash === null ? undefined : selectSpent.get(t.successor_hash);
    if (
      graceSeconds > 0 &&
      now - t.spent_at <= graceSeconds &&
      t.successor_box !== null &&
      successorSpent === null
    ) {
      return { kind: "grace", box: new Uint8Array(t.successor_box) };
    }
    return { kind: "reused", revokedSids: revoke(t.sid, now, "reused") };
  }
  // Rotations and issues are the hot writes: those arriving together share one transaction (see createGroupCommit).
  const rotate = createGroupCommit(db, WHAT, "rotate", rotateOnce);

  const create = createGroupCommit(db, WHAT, "createFamily", ({ family, first }: { family: FamilyRecord; first: Parameters<FamilyStore["createFamily"]>[1] }) => {
    insertFamily.run({
      sid: family.sid,
      subject: family.subject,
      scopes: JSON.stringify(family.scopes),
      audiences: JSON.stringify(family.audiences),
      metadata: JSON.stringify(family.metadata),
      actor: family.actor === undefined ? null : JSON.stringify(family.actor),
      access_ttl: family.accessTtlSeconds,
      refresh_ttl: family.refreshTtlSeconds,
      created_at: family.createdAt,
      absolute_expires_at: family.absoluteExpiresAt ?? null,
      parent_sid: family.parentSid ?? null,
    });
    insertToken.run(first.hash, first.sid, 0, first.issuedAt, first.expiresAt);
  });

  const revokeTx = db.transaction(revoke);
  const purgeTx = db.transaction(
    (expiredBefore: number, boxBefore: number) =>
      deleteExpired.run(expiredBefore).changes + deleteFamilies.run(expiredBefore).changes + dropBoxes.run(boxBefore).changes,
  );

  function run<T>(operation: string, fn: () => T): Promise<T> {
    return sqliteCall(WHAT, operation, fn);
  }

  return {
    createFamily: (family, first) => create({ family, first }),
    getFamily: (sid) =>
      run("getFamily", () => {
        const r = selectFamily.get(sid) as FamilyRow | undefined;
        return r === undefined ? undefined : toFamily(r);
      }),
    rotate,
    sessionOf: (hash) => run("sessionOf", () => (selectSession.get(hash) as string | undefined) ?? undefined),
    revokeFamily: (sid, now, reason) => run("revokeFamily", () => revokeTx.immediate(sid, now, reason)),
    revocationsSince: (since) => run("revocationsSince", () => selectRevocations.all(since) as Revocation[]),
    purge: (expiredBefore, boxBefore) => run("purge", () => purgeTx.immediate(expiredBefore, boxBefore)),
    close: async () => {
      if (db.open) {
        db.close();
      }
    },
  };
}

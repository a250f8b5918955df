import { Code, ConnectError } from "@connectrpc/connect";
import type {
  ActorClaim,
  FamilyRecord,
  FamilyStore,
  Revocation,
  RevokeReason,
  RotateInput,
  RotateResult,
} from "./family-store.js";
import type { PostgresStoreOptions } from "./postgres-pool.js";
import { openPostgresStore } from "./postgres-store-handle.js";

const WHAT = "Postgres token store";

/**
 * PostgresFamilyStoreOptions configures {@link createPostgresFamilyStore}:
 * a shared `pool`, or a `connectionString` (plus pool options) for a pool of
 * the store's own. See {@link PostgresStoreOptions}.
 */
export type PostgresFamilyStoreOptions = PostgresStoreOptions;

/** A family row as `pg` returns it: bigint columns are strings, jsonb parsed. */
interface FamilyRow {
  sid: string;
  subject: string;
  scopes: string[];
  audiences: string[];
  metadata: Record<string, string>;
  actor: ActorClaim | null;
  access_ttl: string;
  refresh_ttl: string;
  created_at: string;
  absolute_expires_at: string | null;
  parent_sid: string | null;
  revoked_at: string | null;
  revoke_reason: string | null;
}

/** The presented token, its family and its successor, for the outcome of a rotation that did not rotate. */
interface PresentedRow extends FamilyRow {
  t_expires_at: string;
  t_spent_at: string | null;
  t_successor_box: Buffer | null;
  s_exists: boolean;
  s_spent_at: string | null;
}

function toFamily(r: FamilyRow): FamilyRecord {
  const f: FamilyRecord = {
    sid: r.sid,
    subject: r.subject,
    scopes: r.scopes,
    audiences: r.audiences,
    metadata: r.metadata,
    accessTtlSeconds: Number(r.access_ttl),
    refreshTtlSeconds: Number(r.refresh_ttl),
    createdAt: Number(r.created_at),
  };
  if (r.actor !== null) f.actor = r.actor;
  if (r.absolute_expires_at !== null) f.absoluteExpiresAt = Number(r.absolute_expires_at);
  if (r.parent_sid !== null) f.parentSid = r.parent_sid;
  if (r.revoked_at !== null) f.revokedAt = Number(r.revoked_at);
  if (r.revoke_reason !== null) f.revokeReason = r.revoke_reason as RevokeReason;
  return f;
}

const FAMILY_COLUMNS = `f.sid, f.subject, f.scopes, f.audiences, f.metadata, f.actor, f.access_ttl, f.refresh_ttl, f.created_at,
  f.absolute_expires_at, f.parent_sid, f.revoked_at, f.revoke_reason`;

const INSERT_FAMILY = `
  WITH f AS (
    INSERT INTO tokenkit_families (sid, subject, scopes, audiences, metadata, actor, access_ttl, refresh_ttl, created_at, absolute_expires_at, parent_sid)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING sid
  )
  INSERT INTO tokenkit_refresh_tokens (hash, sid, generation, issued_at, expires_at)
  SELECT $12, sid, 0, $13, $14 FROM f`;

const SELECT_FAMILY = `SELECT ${FAMILY_COLUMNS} FROM tokenkit_families f WHERE f.sid = $1`;

/**
 * The compare-and-swap: spend the presented token only if it is unspent and
 * its family unrevoked, and insert the successor, in one statement. A
 * concurrent rotation of the same token waits for the row lock and then,
 * re-checking `spent_at IS NULL` against the committed row, matches nothing.
 */
const ROTATE = `
  WITH spent AS (
    UPDATE tokenkit_refresh_tokens t
    SET spent_at = $2, successor_hash = $3, successor_box = $4
    FROM tokenkit_families f
    WHERE t.hash = $1 AND t.spent_at IS NULL AND t.expires_at > $2 AND f.sid = t.sid AND f.revoked_at IS NULL
    RETURNING t.sid, t.generation
  )
  INSERT INTO tokenkit_refresh_tokens (hash, sid, generation, issued_at, expires_at)
  SELECT $3, sid, generation + 1, $5, $6 FROM spent
  RETURNING generation`;

const SELECT_PRESENTED = `
  SELECT ${FAMILY_COLUMNS}, t.expires_at AS t_expires_at, t.spent_at AS t_spent_at, t.successor_box AS t_successor_box,
         s.hash IS NOT NULL AS s_exists, s.spent_at AS s_spent_at
  FROM tokenkit_refresh_tokens t
  JOIN tokenkit_families f ON f.sid = t.sid
  LEFT JOIN tokenkit_refresh_tokens s ON s.hash = t.successor_hash
  WHERE t.hash = $1`;

const REVOKE_TREE = `
  WITH RECURSIVE tree(sid) AS (
    SELECT $1::text
    UNION
    SELECT f.sid FROM tokenkit_families f JOIN tree t ON f.parent_sid = t.sid
  )
  UPDATE tokenkit_families
  SET revoked_at = $2, revoke_reason = CASE WHEN sid = $1 THEN $3 ELSE 'parent_revoked' END
  WHERE sid IN (SELECT sid FROM tree) AND revoked_at IS NULL
  RETURNING sid`;

const SELECT_REVOCATIONS = `
  SELECT sid, revoked_at, revoked_at + access_ttl AS expires_at FROM tokenkit_families
  WHERE revoked_at IS NOT NULL AND revoked_at >= $1
  ORDER BY revoked_at, sid`;

/** Expired records go; sealed pairs older than the grace window are dropped from the rest. */
const PURGE_TOKENS = `
  WITH gone AS (
    DELETE FROM tokenkit_refresh_tokens WHERE expires_at < $1 RETURNING 1
  ), unboxed AS (
    UPDATE tokenkit_refresh_tokens SET successor_box = NULL
    WHERE successor_box IS NOT NULL AND spent_at < $2 AND expires_at >= $1
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM unboxed) AS n`;

/**
 * Families left without a refresh record, whose revocation (if any) no longer
 * matters, with no child left. A statement of its own: it must see the
 * records {@link PURGE_TOKENS} just deleted.
 */
const PURGE_FAMILIES = `
  WITH gone AS (
    DELETE FROM tokenkit_families f
    WHERE (f.revoked_at IS NULL OR f.revoked_at + f.access_ttl < $1)
      AND NOT EXISTS (SELECT 1 FROM tokenkit_refresh_tokens t WHERE t.sid = f.sid)
      AND NOT EXISTS (SELECT 1 FROM tokenkit_families c WHERE c.parent_sid = f.sid)
    RETURNING 1
  )
  SELECT count(*) AS n FROM gone`;

/**
 * createPostgresFamilyStore returns a {@link FamilyStore} in PostgreSQL, for
 * several `tokenkit serve` instances sharing one database. It applies the
 * schema migrations first (once, under an advisory lock) and resolves when
 * the store is ready.
 *
 * Every write is one statement, so nothing is ever half-written — a dropped
 * connection or a killed server rolls it back whole. A rotation is a single
 * compare-and-swap statement on the presented token's hash (see `ROTATE`): of
 * N concurrent rotations of one token, on any number of instances, exactly
 * one rotates; the others then find it spent and get the grace pair. Reuse
 * revokes the family tree in one recursive statement. Store failures reject
 * with `Unavailable`, duplicate keys and transaction conflicts with
 * `Aborted`; after `close()` every call fails with `Unavailable`.
 */
export async function createPostgresFamilyStore(options: PostgresFamilyStoreOptions): Promise<FamilyStore> {
  const store = await openPostgresStore(options, "createPostgresFamilyStore", WHAT);
  const { pool, call } = store;

  async function revoke(sid: string, now: number, reason: RevokeReason): Promise<string[]> {
    const { rows } = await pool.query<{ sid: string }>(REVOKE_TREE, [sid, now, reason]);
    return rows.map((r) => r.sid);
  }

  async function rotate(input: RotateInput): Promise<RotateResult> {
    const { presentedHash, now, graceSeconds, successor } = input;
    if (successor !== undefined) {
      const { record, box } = successor;
      const { rows } = await pool.query<{ generation: number }>(ROTATE, [
        presentedHash,
        now,
        record.hash,
        Buffer.from(box.buffer, box.byteOffset, box.byteLength),
        record.issuedAt,
        record.expiresAt,
      ]);
      if (rows.length === 1) {
        return { kind: "rotated", generation: rows[0]!.generation };
      }
    }
    // Not rotated: unknown, revoked, current (probe), or spent (grace or reuse).
    const { rows } = await pool.query<PresentedRow>(SELECT_PRESENTED, [presentedHash]);
    const t = rows[0];
    if (t === undefined) {
      return { kind: "unknown" };
    }
    if (now >= Number(t.t_expires_at)) {
      return { kind: "expired" };
    }
    if (t.revoked_at !== null) {
      return { kind: "revoked", reason: (t.revoke_reason ?? "revoked") as RevokeReason };
    }
    if (t.t_spent_at === null) {
      if (successor === undefined) {
        return { kind: "current", family: toFamily(t) };
      }
      // The compare-and-swap matched nothing, yet the token is unspent and its family live:
      // only a family revoked and restored in between could do that. Let the caller retry.
      throw new ConnectError(`${WHAT}: rotation conflict; retry`, Code.Aborted);
    }
    const spentAt = Number(t.t_spent_at);
    if (graceSeconds > 0 && now - spentAt <= graceSeconds && t.t_successor_box !== null && t.s_exists && t.s_spent_at === null) {
      return { kind: "grace", box: new Uint8Array(t.t_successor_box) };
    }
    return { kind: "reused", revokedSids: await revoke(t.sid, now, "reused") };
  }

  return {
    createFamily: (family, first) =>
      call("createFamily", async () => {
        await pool.query(INSERT_FAMILY, [
          family.sid,
          family.subject,
          JSON.stringify(family.scopes),
          JSON.stringify(family.audiences),
          JSON.stringify(family.metadata),
          family.actor === undefined ? null : JSON.stringify(family.actor),
          family.accessTtlSeconds,
          family.refreshTtlSeconds,
          family.createdAt,
          family.absoluteExpiresAt ?? null,
          family.parentSid ?? null,
          first.hash,
          first.issuedAt,
          first.expiresAt,
        ]);
      }),
    getFamily: (sid) =>
      call("getFamily", async () => {
        const { rows } = await pool.query<FamilyRow>(SELECT_FAMILY, [sid]);
        return rows[0] === undefined ? undefined : toFamily(rows[0]);
      }),
    rotate: (input) => call("rotate", () => rotate(input)),
    sessionOf: (hash) =>
      call("sessionOf", async () => {
        const { rows } = await pool.query<{ sid: string }>(`SELECT sid FROM tokenkit_refresh_tokens WHERE hash = $1`, [hash]);
        return rows[0]?.sid;
      }),
    revokeFamily: (sid, now, reason) => call("revokeFamily", () => revoke(sid, now, reason)),
    revocationsSince: (since) =>
      call("revocationsSince", async (): Promise<Revocation[]> => {
        const { rows } = await pool.query<{ sid: string; revoked_at: string; expires_at: string }>(SELECT_REVOCATIONS, [since]);
        return rows.map((r) => ({ sid: r.sid, revokedAt: Number(r.revoked_at), expiresAt: Number(r.expires_at) }));
      }),
    purge: (expiredBefore, boxBefore) =>
      call("purge", async () => {
        const tokens = await pool.query<{ n: string }>(PURGE_TOKENS, [expiredBefore, boxBefore]);
        const families = await pool.query<{ n: string }>(PURGE_FAMILIES, [expiredBefore]);
        return Number(tokens.rows[0]!.n) + Number(families.rows[0]!.n);
      }),
    close: () => store.close(),
  };
}

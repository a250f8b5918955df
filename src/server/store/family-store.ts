/**
 * The token-family store: the one small interface behind which the token
 * server keeps its state (memory, SQLite, Postgres). Every method is async and
 * every mutation is atomic, so a networked store fits the same contract.
 *
 * Times are Unix seconds. Refresh tokens are kept only as SHA-256 hashes
 * (base64url); the successor pair needed for the grace window is kept only
 * sealed with a key derived from the predecessor token, which the store never
 * sees, so a copy of the database holds no usable token.
 */

/** ActorClaim is the RFC 8693 `act` claim: the delegate, nested for chains. */
export interface ActorClaim {
  /** sub is the actor's subject. */
  sub: string;
  /** act is the actor that delegated to this actor, if any. */
  act?: ActorClaim;
}

/** RevokeReason says why a family was revoked. */
export type RevokeReason = "revoked" | "reused" | "parent_revoked";

/** FamilyRecord is one refresh-token family (one session, claim `sid`). */
export interface FamilyRecord {
  /** sid is the family id. */
  sid: string;
  /** subject is the principal (`sub`). */
  subject: string;
  /** scopes granted to every access token of the family. */
  scopes: string[];
  /** audiences of every access token of the family. */
  audiences: string[];
  /** metadata copied into the `meta` claim. */
  metadata: Record<string, string>;
  /** actor is the `act` claim of delegated families. */
  actor?: ActorClaim;
  /** accessTtlSeconds is the effective access-token lifetime. */
  accessTtlSeconds: number;
  /** refreshTtlSeconds is the effective refresh-token TTL, kept through rotation. */
  refreshTtlSeconds: number;
  /** createdAt is when the family was issued. */
  createdAt: number;
  /** absoluteExpiresAt caps every refresh token of the family, if set. */
  absoluteExpiresAt?: number;
  /** parentSid is the family this one was exchanged from (delegation). */
  parentSid?: string;
  /** revokedAt is when the family was revoked, if it was. */
  revokedAt?: number;
  /** revokeReason says why it was revoked. */
  revokeReason?: RevokeReason;
}

/** RefreshRecord is one refresh token of a family, by hash. */
export interface RefreshRecord {
  /** hash is base64url(SHA-256(token)). */
  hash: string;
  /** sid is the family. */
  sid: string;
  /** generation counts rotations: 0 for the issued token. */
  generation: number;
  /** issuedAt is the token's `iat`. */
  issuedAt: number;
  /** expiresAt is the token's `exp`. */
  expiresAt: number;
  /** spentAt is when the token was rotated, if it was. */
  spentAt?: number;
  /** successorHash is the hash of the token it was rotated into. */
  successorHash?: string;
  /** successorBox is the successor pair sealed with a key derived from this token. */
  successorBox?: Uint8Array;
}

/** RotateInput is what {@link FamilyStore.rotate} needs for one compare-and-swap. */
export interface RotateInput {
  /** presentedHash is the hash of the presented refresh token. */
  presentedHash: string;
  /** now is the current time. */
  now: number;
  /** graceSeconds is the grace window for re-presenting the immediate predecessor. */
  graceSeconds: number;
  /**
   * successor is the new refresh record (its generation is set by the store)
   * with the sealed successor pair. Absent when the caller only wants the
   * outcome for an already-spent token; then an unspent token yields
   * `{ kind: "current" }`.
   */
  successor?: { record: Omit<RefreshRecord, "generation" | "spentAt" | "successorHash" | "successorBox">; box: Uint8Array };
}

/** RotateResult is the outcome of one rotation attempt. */
export type RotateResult =
  /** The presented token was current and is now spent; the successor is stored. */
  | { kind: "rotated"; generation: number }
  /** The presented token is current and no successor was given. */
  | { kind: "current"; family: FamilyRecord }
  /** The immediate predecessor was re-presented within grace: the identical sealed pair. */
  | { kind: "grace"; box: Uint8Array }
  /** Any other reuse: the family and its descendants were revoked just now. */
  | { kind: "reused"; revokedSids: string[] }
  /** The family was already revoked. */
  | { kind: "revoked"; reason: RevokeReason }
  /** The presented token is past its expiry (`now >= expiresAt`): the session is over. */
  | { kind: "expired" }
  /** No such token is known. */
  | { kind: "unknown" };

/** Revocation is one revoked family, for revocation caches. */
export interface Revocation {
  /** sid is the revoked family. */
  sid: string;
  /** revokedAt is when it was revoked. */
  revokedAt: number;
  /**
   * expiresAt bounds the `exp` of every access token the family issued:
   * `revokedAt` plus the family's access TTL. Past it (and any verifier's
   * clock tolerance) the revocation no longer matters.
   */
  expiresAt: number;
}

/**
 * FamilyStore is the token server's persistence. Implementations must make
 * {@link FamilyStore.rotate} a single atomic compare-and-swap: of N
 * concurrent rotations of one token, exactly one returns `rotated`.
 * Store failures must surface as `ConnectError` with `Code.Unavailable`.
 */
export interface FamilyStore {
  /** createFamily stores a new family and its first refresh token. */
  createFamily(family: FamilyRecord, first: Omit<RefreshRecord, "generation">): Promise<void>;
  /** getFamily returns a family by sid. */
  getFamily(sid: string): Promise<FamilyRecord | undefined>;
  /**
   * rotate is the atomic rotation step; see {@link RotateResult}. The store
   * decides expiry too: refresh tokens may be opaque handles that carry no
   * `exp` of their own. Checked in this order: unknown, expired, revoked,
   * then current, grace or reuse.
   */
  rotate(input: RotateInput): Promise<RotateResult>;
  /**
   * sessionOf returns the family (`sid`) of the refresh token with this
   * hash, spent or not, expired or not, or undefined when none is stored.
   * Revocation (RFC 7009) uses it: an opaque refresh token names its family
   * only through the store.
   */
  sessionOf(hash: string): Promise<string | undefined>;
  /**
   * revokeFamily revokes the family and all its descendants (delegated
   * children, recursively) that are not revoked yet, and returns their sids.
   * Unknown sids revoke nothing.
   */
  revokeFamily(sid: string, now: number, reason: RevokeReason): Promise<string[]>;
  /** revocationsSince lists families revoked at or after `since`, oldest first. */
  revocationsSince(since: number): Promise<Revocation[]>;
  /**
   * purge deletes refresh records that expired before `expiredBefore`, then
   * families left with no refresh record whose revocation, if any, no longer
   * matters (`revokedAt + accessTtlSeconds < expiredBefore`) and that have no
   * delegated children left; and drops sealed successor pairs of tokens spent
   * before `boxBefore`. Returns the number of rows touched.
   */
  purge(expiredBefore: number, boxBefore: number): Promise<number>;
  /** close releases the store's resources. */
  close(): Promise<void>;
}

import { systemClock, type Clock, type ClockTimer } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { FamilyStore } from "./store/family-store.js";
import { MAX_CLOCK_TOLERANCE_SECONDS } from "./token-service-options.js";
import { HARD_MAX_ACCESS_TTL_SECONDS } from "./ttl-policy.js";

/**
 * RevocationCache answers "is this family revoked?" on every authenticated
 * call without touching the store: an in-memory set of recently revoked
 * families, updated at once for revocations made in this process and by
 * polling the store for revocations made by other instances.
 */
export interface RevocationCache {
  /** isRevoked reports whether the family `sid` is known to be revoked. */
  isRevoked(sid: string): boolean;
  /** add records revocations made in this process, effective immediately. */
  add(sids: readonly string[], revokedAt: number): void;
  /** ready resolves after the first load from the store. */
  readonly ready: Promise<void>;
  /** sync polls the store once now (the timer does it every `pollIntervalMs`). */
  sync(): Promise<void>;
  /** size is the number of revoked families held. */
  readonly size: number;
  /** close stops polling. */
  close(): void;
}

/** RevocationCacheOptions configures {@link createRevocationCache}. */
export interface RevocationCacheOptions {
  /** store is polled for revocations. Required. */
  store: FamilyStore;
  /**
   * pollIntervalMs is how often the store is polled for revocations made by
   * other instances; the staleness bound across instances is about this.
   * @default 1000 — well inside the 5 s bound of docs/DESIGN.md §4.
   */
  pollIntervalMs?: number;
  /**
   * clockToleranceSeconds is the largest clock tolerance of any verifier that
   * consults this cache: a revoked session is remembered until its last
   * access token's expiry plus this much. Each revocation carries its
   * family's access TTL, so a 7-day access token stays revoked for 7 days
   * and a 1-hour one is forgotten after about an hour.
   * @default 3600 — the most a token service accepts; it costs memory only for revoked sessions.
   */
  clockToleranceSeconds?: number;
  /**
   * lookbackSeconds re-reads, at every poll, revocations stamped up to this
   * long before the newest one already seen. A revocation's time is taken by
   * the instance that made it, just before its statement commits; with
   * several instances on one database, one can commit a revocation stamped
   * a little earlier than another's already-seen one (a statement slowed by
   * a lock, bounded by the statement timeout; clocks a little apart). The
   * look-back keeps those from being skipped.
   * @default 10 — twice the Postgres store's default 5 s statement timeout.
   */
  lookbackSeconds?: number;
  /** clock supplies the time. @default systemClock */
  clock?: Clock;
  /** logger receives poll failures. @default none */
  logger?: Logger;
}

/**
 * createRevocationCache returns a {@link RevocationCache} that starts polling
 * `store` at once (timers are `unref`'d; `close()` stops them).
 */
export function createRevocationCache(options: RevocationCacheOptions): RevocationCache {
  if (options?.store === undefined) {
    throw new TypeError('createRevocationCache: option "store" is required');
  }
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs <= 0) {
    throw new TypeError('createRevocationCache: option "pollIntervalMs" must be a positive number');
  }
  const toleranceSeconds = options.clockToleranceSeconds ?? MAX_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new TypeError('createRevocationCache: option "clockToleranceSeconds" must be a non-negative number');
  }
  const lookbackSeconds = options.lookbackSeconds ?? 10;
  if (!Number.isFinite(lookbackSeconds) || lookbackSeconds < 0) {
    throw new TypeError('createRevocationCache: option "lookbackSeconds" must be a non-negative number');
  }
  const { store, logger } = options;
  const clock = options.clock ?? systemClock;
  // sid → the time after which the revocation no longer matters.
  const revoked = new Map<string, number>();
  // The first load reaches back as far as any access token can live.
  let cursor = Math.floor(clock.now() / 1000) - HARD_MAX_ACCESS_TTL_SECONDS - toleranceSeconds;
  let timer: ClockTimer | undefined;
  let closed = false;
  let inFlight: Promise<void> | undefined;

  function prune(now: number): void {
    for (const [sid, until] of revoked) {
      if (until < now) {
        revoked.delete(sid);
      }
    }
  }

  async function poll(): Promise<void> {
    const rows = await store.revocationsSince(cursor - lookbackSeconds);
    for (const r of rows) {
      revoked.set(r.sid, r.expiresAt + toleranceSeconds);
      // Re-read the last second next time: a revocation committed later in the same second is not missed.
      cursor = Math.max(cursor, r.revokedAt);
    }
    prune(Math.floor(clock.now() / 1000));
  }

  function sync(): Promise<void> {
    inFlight ??= poll().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function arm(): void {
    if (closed) {
      return;
    }
    timer = clock.setTimeout(() => {
      sync()
        .catch((err: unknown) => logger?.warn?.("tokenkit: revocation poll failed; serving the last known revocations", err))
        .finally(arm);
    }, pollIntervalMs);
  }

  const ready = sync();
  ready.then(arm, (err: unknown) => {
    logger?.warn?.("tokenkit: initial revocation load failed", err);
    arm();
  });

  return {
    isRevoked: (sid) => revoked.has(sid),
    add(sids, revokedAt) {
      // Until the next poll brings the family's access TTL, assume the longest.
      const until = revokedAt + HARD_MAX_ACCESS_TTL_SECONDS + toleranceSeconds;
      for (const sid of sids) {
        revoked.set(sid, Math.max(revoked.get(sid) ?? 0, until));
      }
    },
    ready: ready.catch(() => {}),
    sync,
    get size() {
      return revoked.size;
    },
    close() {
      closed = true;
      if (timer !== undefined) {
        clock.clearTimeout(timer);
      }
    },
  };
}

import { systemClock, type Clock } from "../lib/clock.js";
import { startPeriodicTask } from "../lib/periodic-task.js";
import type { Logger } from "../lib/logger.js";
import type { FamilyStore } from "./store/family-store.js";
import { MAX_CLOCK_TOLERANCE_SECONDS, MAX_GRACE_PERIOD_SECONDS } from "./token-service-options.js";

/** StoreJanitorOptions configures {@link startStoreJanitor}. */
export interface StoreJanitorOptions {
  /** store is purged periodically. Required. */
  store: FamilyStore;
  /** intervalMs is the time between purges. @default 600 000 (10 min) */
  intervalMs?: number;
  /** clock supplies time and (unref'd) timers. @default systemClock */
  clock?: Clock;
  /** logger hears about failed purges. @default none */
  logger?: Logger;
}

/** StoreJanitor is a running janitor. */
export interface StoreJanitor {
  /** runOnce purges now and resolves to the number of rows touched. */
  runOnce(): Promise<number>;
  /** stop cancels the timer. */
  stop(): void;
}

/**
 * startStoreJanitor keeps a token-family store bounded: every `intervalMs` it
 * deletes refresh records expired for longer than any clock tolerance
 * (3600 s), then the families left with no refresh record whose revocation no
 * longer matters, and drops sealed successor pairs older than the longest
 * grace window any token service accepts (300 s). The grace period itself
 * is decided by the token service alone, at each rotation: the janitor never
 * needs to know it, so no configuration can make it drop a pair the service
 * would still return.
 */
export function startStoreJanitor(options: StoreJanitorOptions): StoreJanitor {
  if (options?.store === undefined) {
    throw new TypeError('startStoreJanitor: option "store" is required');
  }
  const intervalMs = options.intervalMs ?? 600_000;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new TypeError('startStoreJanitor: option "intervalMs" must be a positive number');
  }
  const { store, logger } = options;
  const clock = options.clock ?? systemClock;
  return startPeriodicTask({
    clock,
    intervalMs,
    run: async () => {
      const now = Math.floor(clock.now() / 1000);
      return store.purge(now - MAX_CLOCK_TOLERANCE_SECONDS, now - MAX_GRACE_PERIOD_SECONDS);
    },
    onResult: (n) => {
      if (n > 0) logger?.debug?.(`tokenkit: purged ${n} expired token-store rows`);
    },
    onError: (err) => logger?.warn?.("tokenkit: purging the token store failed; will retry", err),
  });
}

import { systemClock, type Clock } from "../lib/clock.js";
import { startPeriodicTask } from "../lib/periodic-task.js";
import type { Logger } from "../lib/logger.js";
import type { FamilyStore } from "./store/family-store.js";

/** StoreJanitorOptions configures {@link startStoreJanitor}. */
export interface StoreJanitorOptions {
  /** store is purged periodically. Required. */
  store: FamilyStore;
  /**
   * gracePeriodSeconds is the token service's grace window: sealed successor pairs older than it
   * can never be returned again, so they are dropped.
   * @default 30
   */
  gracePeriodSeconds?: number;
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
 * startStoreJanitor keeps a token-family store small: every `intervalMs` it
 * deletes refresh records past their expiry (an expired refresh token fails
 * verification before the store is asked, so nothing is lost) and drops
 * sealed successor pairs older than the grace window.
 */
export function startStoreJanitor(options: StoreJanitorOptions): StoreJanitor {
  if (options?.store === undefined) {
    throw new TypeError('startStoreJanitor: option "store" is required');
  }
  const grace = options.gracePeriodSeconds ?? 30;
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
      return store.purge(now, now - grace);
    },
    onResult: (n) => {
      if (n > 0) logger?.debug?.(`tokenkit: purged ${n} expired refresh records`);
    },
    onError: (err) => logger?.warn?.("tokenkit: purging the token store failed; will retry", err),
  });
}

import { systemClock, type Clock } from "../../lib/clock.js";
import { startPeriodicTask } from "../../lib/periodic-task.js";
import type { Logger } from "../../lib/logger.js";
import type { KeyRing } from "./key-ring.js";

/** KeyReloaderOptions configures {@link startKeyReloader}. */
export interface KeyReloaderOptions {
  /** keyRing is reloaded from its store. Required. */
  keyRing: KeyRing;
  /**
   * intervalMs is the time between reloads, and so the bound on how long
   * after `tokenkit keys rotate` (or a rotation on another instance) this
   * instance's JWKS lists the new key. A new key signs only after the key
   * ring's activation delay (10 min by default), far beyond this, so every
   * instance verifies it before any token carries it.
   * @default 10 000 (10 s)
   */
  intervalMs?: number;
  /** clock supplies the (unref'd) timers. @default systemClock */
  clock?: Clock;
  /** logger hears about failed reloads (the ring keeps its current keys). @default none */
  logger?: Logger;
}

/** KeyReloader is a running reloader. */
export interface KeyReloader {
  /** runOnce reloads now. */
  runOnce(): Promise<void>;
  /** stop cancels the timer. */
  stop(): void;
}

/**
 * startKeyReloader re-reads a key ring's store every `intervalMs`, so that
 * instances sharing one key store (Postgres, or a shared key directory) see
 * each other's rotations within a bounded time without a SIGHUP. A failed
 * reload is logged and retried at the next tick; the ring keeps serving the
 * keys it has.
 */
export function startKeyReloader(options: KeyReloaderOptions): KeyReloader {
  if (typeof options?.keyRing?.reload !== "function") {
    throw new TypeError('startKeyReloader: option "keyRing" is required');
  }
  const intervalMs = options.intervalMs ?? 10_000;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new TypeError('startKeyReloader: option "intervalMs" must be a positive number of milliseconds');
  }
  const { keyRing, logger } = options;
  const clock = options.clock ?? systemClock;
  return startPeriodicTask({
    clock,
    intervalMs,
    run: () => keyRing.reload(),
    onError: (err) => logger?.warn?.("tokenkit: reloading the signing keys failed; keeping the current ones", err),
  });
}

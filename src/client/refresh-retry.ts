import type { ConnectError } from "@connectrpc/connect";
import type { Clock, ClockTimer } from "../lib/clock.js";
import { backoffDelay, type BackoffOptions } from "./refresh-policy.js";

/** RefreshRetry is the backoff state of a token source after transient refresh failures. */
export interface RefreshRetry {
  /** lastError is the latest transient failure, until a refresh succeeds or a new pair arrives. */
  readonly lastError: ConnectError | undefined;
  /** retryAt is when the pending retry fires (local clock, ms); 0 when none is pending. */
  readonly retryAt: number;
  /** pending reports whether a retry timer is armed. */
  readonly pending: boolean;
  /**
   * schedule arms the retry after failure number `attempt` (counted here): the server's
   * `retryAfterMs` when given (capped by the backoff maximum), else the next capped exponential
   * step with jitter. It returns the attempt number and the delay.
   */
  schedule(error: ConnectError, retryAfterMs: number | undefined, fire: () => void): { attempt: number; delayMs: number };
  /** disarm cancels a pending retry, keeping the failure count (the backoff goes on). */
  disarm(): void;
  /** reset forgets every failure: a refresh succeeded or a new pair arrived. */
  reset(): void;
}

/** createRefreshRetry returns an idle {@link RefreshRetry}. */
export function createRefreshRetry(clock: Clock, random: () => number, backoff: BackoffOptions): RefreshRetry {
  let attempt = 0;
  let timer: ClockTimer | undefined;
  let retryAt = 0;
  let lastError: ConnectError | undefined;
  const maxMs = backoff.maxMs ?? 60_000;
  function disarm(): void {
    if (timer !== undefined) {
      clock.clearTimeout(timer);
      timer = undefined;
    }
  }
  return {
    get lastError() {
      return lastError;
    },
    get retryAt() {
      return timer === undefined ? 0 : retryAt;
    },
    get pending() {
      return timer !== undefined;
    },
    schedule(error, retryAfterMs, fire) {
      attempt++;
      lastError = error;
      const delayMs = retryAfterMs !== undefined ? Math.min(retryAfterMs, maxMs) : backoffDelay(attempt, random(), backoff);
      disarm();
      retryAt = clock.now() + delayMs;
      timer = clock.setTimeout(() => {
        timer = undefined;
        fire();
      }, delayMs);
      return { attempt, delayMs };
    },
    disarm,
    reset() {
      disarm();
      attempt = 0;
      lastError = undefined;
    },
  };
}

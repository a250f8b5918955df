import type { Clock } from "../lib/clock.js";

/**
 * RefreshExpiry tells the scheduler when a session's current token expires.
 * `expiresInSeconds` wins when present (measured from now on the local clock,
 * immune to server clock skew), else `expiresAt`; with neither the expiry is
 * unknown and the session refreshes after `fallbackIntervalMs`. A
 * `StoredToken` fits as is.
 */
export interface RefreshExpiry {
  /** expiresInSeconds is the token's remaining lifetime in seconds, counted from now. */
  expiresInSeconds?: number;
  /** expiresAt is when the token expires on the local clock (ms since the epoch). */
  expiresAt?: number;
  /** receivedAt is when the token was received (local clock, ms); the lifetime is `expiresAt − receivedAt`. @default now */
  receivedAt?: number;
}

/** ScheduledRefreshContext is passed to each {@link ScheduledRefreshFunction} call. */
export interface ScheduledRefreshContext {
  /** signal aborts when the session is cancelled (`cancel`, `cancelAll`, `close`) or the refresh's deadline (`refreshTimeoutMs`) passes. */
  signal: AbortSignal;
  /** attempt counts this try, 1-based: 2 and up are retries after consecutive failures. */
  attempt: number;
}

/**
 * ScheduledRefreshFunction refreshes one session. It resolves to the new
 * token's expiry (or nothing: unknown), or rejects to count a failure.
 */
export type ScheduledRefreshFunction = (id: string, context: ScheduledRefreshContext) => Promise<RefreshExpiry | undefined | void>;

/**
 * RefreshSchedulerEvent is every event a refresh scheduler emits. None
 * carries token text; `error` is whatever the refresh function threw.
 */
export type RefreshSchedulerEvent =
  /** refresh succeeded: the consecutive-failure count is back to 0 and the session is due again at `nextRefreshAt`. */
  | { type: "refresh"; id: string; outcome: "success"; failures: 0; latencyMs: number; nextRefreshAt: number }
  /** refresh failed for the `failures`-th time in a row; it is retried at `retryAt`. */
  | { type: "refresh"; id: string; outcome: "failure"; failures: number; latencyMs: number; retryAt: number; error: unknown }
  /** gave_up: the `maxConsecutiveFailures`-th failure in a row; the session is dropped (schedule it again to resume). */
  | { type: "gave_up"; id: string; latencyMs: number; failures: number; error: unknown }
  /** discarded: a refresh finished after its session was cancelled or rescheduled; its result armed nothing. */
  | { type: "discarded"; id: string; latencyMs: number };

/** RefreshSchedulerOptions configures {@link createRefreshScheduler}. */
export interface RefreshSchedulerOptions {
  /** refresh refreshes one session, by id. Required. */
  refresh: ScheduledRefreshFunction;
  /** clock supplies time and timers. @default systemClock */
  clock?: Clock;
  /**
   * refreshFraction is the share of a token's lifetime left when it is refreshed, in (0, 1).
   * @default 0.25 — as the token source: a 1 h token refreshes with 15 min left
   */
  refreshFraction?: number;
  /**
   * minMarginMs: a refresh is never scheduled later than `expiry − minMarginMs` (docs/DESIGN.md §5).
   * @default 30 000
   */
  minMarginMs?: number;
  /**
   * fallbackIntervalMs is the delay before refreshing a session whose expiry is unknown.
   * @default 1 800 000 (30 min) — often enough for any common access-token lifetime of an hour or more
   */
  fallbackIntervalMs?: number;
  /**
   * minDelayMs is the floor of every delay, at least 1 000: a token that is
   * already expired (or a refresh that returns one) is refreshed after this
   * delay, never in a tight loop.
   * @default 30 000
   */
  minDelayMs?: number;
  /**
   * maxConsecutiveFailures is how many refreshes in a row may fail before
   * the session is dropped with a `gave_up` event. A success resets the count.
   * @default 3
   */
  maxConsecutiveFailures?: number;
  /**
   * failureRetryDelayMs is the delay after a failed refresh (never below `minDelayMs`).
   * @default 60 000
   */
  failureRetryDelayMs?: number;
  /**
   * maxConcurrentRefreshes caps refreshes running at once; sessions due
   * meanwhile wait their turn in due order, so a fleet due together (after
   * a restart or a sleep) does not stampede the token server.
   * @default 16
   */
  maxConcurrentRefreshes?: number;
  /**
   * refreshTimeoutMs is each refresh's own deadline. When it passes, the refresh's signal aborts
   * and it counts as a failure at once, freeing its slot even if the refresh function ignores the
   * signal and never settles; whatever it returns later is discarded.
   * @default 60 000 — far above a healthy refresh, so only a hung one is cut off
   */
  refreshTimeoutMs?: number;
  /**
   * maxTimerDelayMs caps the one live timer, at least 1 000. Timers run on a
   * monotonic clock that stops while a machine sleeps; waking up every
   * `maxTimerDelayMs` to compare `clock.now()` with due times bounds how late
   * a refresh can be after a sleep or a wall-clock jump.
   * @default 60 000
   */
  maxTimerDelayMs?: number;
  /**
   * jitterRatio moves each due time earlier by up to this share of the delay
   * (capped by `maxJitterMs`), in [0, 1), so sessions issued together spread out.
   * @default 0.05
   */
  jitterRatio?: number;
  /** maxJitterMs caps the jitter. @default 60 000 */
  maxJitterMs?: number;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** onEvent observes refreshes, failures and give-ups; an observer that throws is ignored. @default none */
  onEvent?: (event: RefreshSchedulerEvent) => void;
}

/**
 * RefreshScheduler keeps many sessions refreshed with one live timer. Every
 * method is synchronous; refreshes only ever start from the timer, never
 * from inside a method call.
 */
export interface RefreshScheduler {
  /**
   * schedule (re)schedules session `id` for its token's expiry (without
   * `token`, or with neither expiry field: unknown, so `fallbackIntervalMs`)
   * and returns the due time (local clock, ms). It supersedes any earlier schedule of
   * `id`: a refresh of `id` still running finishes, but its result arms
   * nothing. It resets the consecutive-failure count.
   */
  schedule(id: string, token?: RefreshExpiry): number;
  /** scheduleFromExpiresIn is `schedule(id, { expiresInSeconds })`, for an `expires_in` just received. */
  scheduleFromExpiresIn(id: string, expiresInSeconds: number): number;
  /** cancel stops session `id`, aborting its running refresh; it reports whether `id` was scheduled. */
  cancel(id: string): boolean;
  /** cancelAll cancels every session. */
  cancelAll(): void;
  /** nextRefreshAt returns when `id` is due (local clock, ms), or `undefined` while it refreshes or when it is not scheduled. */
  nextRefreshAt(id: string): number | undefined;
  /** size is the number of sessions scheduled, refreshing ones included. */
  readonly size: number;
  /**
   * close cancels every session and stops the timer; `schedule` then throws.
   * The promise resolves when the refreshes that were running have settled or
   * been aborted (a refresh function that ignores its signal is not waited for).
   */
  close(): Promise<void>;
}

/** HeapEntry is one due time in the scheduler's heap; `gen` tells a stale entry from a live one. */
export interface HeapEntry {
  at: number;
  id: string;
  gen: number;
}

/** Session is the scheduling state of one id. */
export interface Session {
  gen: number;
  dueAt: number | undefined;
  failures: number;
  /** deferred: due while an older refresh of the same id still ran; it runs when that one settles. */
  deferred: boolean;
}

/** Running is one refresh in progress. */
export interface Running {
  gen: number;
  controller: AbortController;
  started: number;
  /** deadlineAt is when this refresh is cut off (local clock, ms); the one live timer covers it. */
  deadlineAt: number;
  /** done: the refresh was counted (settled, timed out or cancelled); a later settle is ignored. */
  done: boolean;
  /** settled resolves when the refresh function's promise settles (and its outcome was counted). */
  settled: Promise<void>;
}

/** Outcome is how one refresh ended, as {@link RefreshScheduler} counts it. */
export type Outcome = { ok: true; expiry: RefreshExpiry | undefined | void } | { ok: false; error: unknown };

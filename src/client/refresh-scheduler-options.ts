import { systemClock, type Clock } from "../lib/clock.js";
import { normalizeRefreshPolicy, refreshPoint, type RefreshPolicy } from "./refresh-policy.js";
import type { RefreshExpiry, RefreshSchedulerEvent, RefreshSchedulerOptions, ScheduledRefreshFunction } from "./refresh-scheduler-types.js";

/** SchedulerSettings are {@link RefreshSchedulerOptions} validated, with every default applied. */
export interface SchedulerSettings {
  refresh: ScheduledRefreshFunction;
  clock: Clock;
  policy: RefreshPolicy;
  fallbackIntervalMs: number;
  minDelayMs: number;
  maxConsecutiveFailures: number;
  failureRetryDelayMs: number;
  maxConcurrent: number;
  maxTimerDelayMs: number;
  refreshTimeoutMs: number;
  random: () => number;
  onEvent: ((event: RefreshSchedulerEvent) => void) | undefined;
}

/** normalizeSchedulerOptions validates `options` once (TypeError naming the option) and applies the defaults. */
export function normalizeSchedulerOptions(options: RefreshSchedulerOptions): SchedulerSettings {
  const who = "createRefreshScheduler";
  if (typeof options?.refresh !== "function") {
    throw new TypeError(`${who}: option "refresh" must be a function`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== "function" || typeof clock.setTimeout !== "function" || typeof clock.clearTimeout !== "function") {
    throw new TypeError(`${who}: option "clock" must implement now, setTimeout and clearTimeout`);
  }
  const policy = normalizeRefreshPolicy(
    {
      refreshFraction: options.refreshFraction,
      minMarginMs: options.minMarginMs,
      // The scheduler never serves a token, so the serving margin does not apply.
      expiryMarginMs: 0,
      jitterRatio: options.jitterRatio,
      maxJitterMs: options.maxJitterMs,
    },
    who,
  );
  const fallbackIntervalMs = options.fallbackIntervalMs ?? 30 * 60_000;
  const minDelayMs = options.minDelayMs ?? 30_000;
  const maxConsecutiveFailures = options.maxConsecutiveFailures ?? 3;
  const failureRetryDelayMs = options.failureRetryDelayMs ?? 60_000;
  const maxConcurrent = options.maxConcurrentRefreshes ?? 16;
  const maxTimerDelayMs = options.maxTimerDelayMs ?? 60_000;
  const refreshTimeoutMs = options.refreshTimeoutMs ?? 60_000;
  const random = options.random ?? Math.random;
  const { refresh, onEvent } = options;
  if (!(Number.isFinite(fallbackIntervalMs) && fallbackIntervalMs > 0)) {
    throw new TypeError(`${who}: option "fallbackIntervalMs" must be a positive number of milliseconds`);
  }
  if (!(Number.isFinite(minDelayMs) && minDelayMs >= 1000)) {
    throw new TypeError(`${who}: option "minDelayMs" must be at least 1000 ms, so that no session refreshes in a tight loop`);
  }
  if (!(Number.isFinite(failureRetryDelayMs) && failureRetryDelayMs >= 0)) {
    throw new TypeError(`${who}: option "failureRetryDelayMs" must be a non-negative number of milliseconds`);
  }
  if (!(Number.isFinite(refreshTimeoutMs) && refreshTimeoutMs > 0)) {
    throw new TypeError(`${who}: option "refreshTimeoutMs" must be a positive number of milliseconds`);
  }
  if (!(Number.isFinite(maxTimerDelayMs) && maxTimerDelayMs >= 1000)) {
    throw new TypeError(`${who}: option "maxTimerDelayMs" must be at least 1000 ms`);
  }
  for (const [name, v] of [
    ["maxConsecutiveFailures", maxConsecutiveFailures],
    ["maxConcurrentRefreshes", maxConcurrent],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new TypeError(`${who}: option "${name}" must be a positive integer`);
    }
  }
  if (typeof random !== "function") {
    throw new TypeError(`${who}: option "random" must be a function`);
  }
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new TypeError(`${who}: option "onEvent" must be a function`);
  }

  return {
    refresh,
    clock,
    policy,
    fallbackIntervalMs,
    minDelayMs,
    maxConsecutiveFailures,
    failureRetryDelayMs,
    maxConcurrent,
    maxTimerDelayMs,
    refreshTimeoutMs,
    random,
    onEvent,
  };
}

/** schedulerJitterMs returns a random jitter for a delay of `delayMs`: up to `jitterRatio` of it, at most `maxJitterMs`. */
export function schedulerJitterMs(settings: SchedulerSettings, delayMs: number): number {
  return Math.min(settings.policy.maxJitterMs, settings.policy.jitterRatio * delayMs) * settings.random();
}

/**
 * schedulerDueAt returns when a session whose token has `expiry`, received at
 * `now`, should be refreshed: its refresh point (the token source's policy),
 * `fallbackIntervalMs` when the expiry is unknown, never sooner than `minDelayMs`.
 */
export function schedulerDueAt(settings: SchedulerSettings, expiry: RefreshExpiry | undefined | void, now: number): number {
  let receivedAt = now;
  let expiresAt: number | undefined;
  if (expiry != null && Number.isFinite(expiry.expiresInSeconds)) {
    expiresAt = now + expiry.expiresInSeconds! * 1000;
  } else if (expiry != null && Number.isFinite(expiry.expiresAt)) {
    expiresAt = expiry.expiresAt!;
    if (Number.isFinite(expiry.receivedAt)) {
      receivedAt = Math.min(expiry.receivedAt!, now);
    }
  }
  const point =
    expiresAt === undefined
      ? now + settings.fallbackIntervalMs - schedulerJitterMs(settings, settings.fallbackIntervalMs)
      : refreshPoint({ accessToken: "", receivedAt, expiresAt }, settings.policy, settings.random());
  return Math.ceil(Math.max(point, now + settings.minDelayMs));
}

/** checkId throws a TypeError unless `id` is a string. */
export function checkId(method: string, id: unknown): asserts id is string {
  if (typeof id !== "string") {
    throw new TypeError(`RefreshScheduler.${method}: "id" must be a string`);
  }
}

/** checkScheduleArgs validates the arguments of `RefreshScheduler.schedule` (TypeError naming the argument). */
export function checkScheduleArgs(id: unknown, token: RefreshExpiry, closed: boolean): asserts id is string {
  checkId("schedule", id);
  if (closed) {
    throw new Error("RefreshScheduler.schedule: the scheduler is closed");
  }
  if (typeof token !== "object" || token === null) {
    throw new TypeError('RefreshScheduler.schedule: "token" must be an object with expiresAt or expiresInSeconds, or absent');
  }
  for (const k of ["expiresInSeconds", "expiresAt", "receivedAt"] as const) {
    if (token[k] !== undefined && !Number.isFinite(token[k])) {
      throw new TypeError(`RefreshScheduler.schedule: "token.${k}" must be a finite number`);
    }
  }
}

import { systemClock, type Clock, type ClockTimer } from "../lib/clock.js";
import { createMinHeap } from "./min-heap.js";
import { normalizeRefreshPolicy, refreshPoint, type RefreshPolicy } from "./refresh-policy.js";

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
  /** signal aborts when the session is cancelled (`cancel`, `cancelAll`, `close`) while the refresh runs. */
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
   * minMarginMs: a refresh is never scheduled later than `expiry − minMarginMs` (DESIGN §5).
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
   * The promise resolves when the refreshes that were running have settled.
   */
  close(): Promise<void>;
}

interface HeapEntry {
  at: number;
  id: string;
  gen: number;
}

interface Session {
  gen: number;
  dueAt: number | undefined;
  failures: number;
  /** deferred: due while an older refresh of the same id still ran; it runs when that one settles. */
  deferred: boolean;
}

interface Running {
  gen: number;
  controller: AbortController;
  settled: Promise<void>;
}

/**
 * createRefreshScheduler returns a {@link RefreshScheduler}: the
 * standalone-bridge pattern, where one process keeps sessions of many users
 * or agents fresh. Each session is refreshed once `refreshFraction` of its
 * token's lifetime is left (as the token source does), after
 * `fallbackIntervalMs` when its expiry is unknown, and never sooner than
 * `minDelayMs`. After a failure it retries after `failureRetryDelayMs`; after
 * `maxConsecutiveFailures` it gives up on the session (`gave_up`).
 *
 * Scale: due times live in a binary min-heap (O(log n) per schedule) with a
 * single live timer for the earliest, so 100 000 sessions cost one timer.
 * Rescheduled and cancelled sessions leave stale heap entries that carry an
 * old generation number and are discarded when reached (the heap is rebuilt
 * when stale entries outnumber live ones). Due work is found by comparing
 * `clock.now()` with due times, and the timer never waits longer than
 * `maxTimerDelayMs`, so a machine waking from sleep refreshes every overdue
 * session exactly once, at most `maxConcurrentRefreshes` at a time.
 * A session never has two refreshes running at once.
 *
 * @example
 * const scheduler = createRefreshScheduler({
 *   refresh: async (id, { signal }) => {
 *     const pair = await refreshSessionOf(id, signal);
 *     return { expiresInSeconds: pair.expiresInSeconds };
 *   },
 * });
 * scheduler.scheduleFromExpiresIn("agent-42", 3600);
 */
export function createRefreshScheduler(options: RefreshSchedulerOptions): RefreshScheduler {
  const who = "createRefreshScheduler";
  if (typeof options?.refresh !== "function") {
    throw new TypeError(`${who}: option "refresh" must be a function`);
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== "function" || typeof clock.setTimeout !== "function" || typeof clock.clearTimeout !== "function") {
    throw new TypeError(`${who}: option "clock" must implement now, setTimeout and clearTimeout`);
  }
  const policy: RefreshPolicy = normalizeRefreshPolicy(
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

  const sessions = new Map<string, Session>();
  const running = new Map<string, Running>();
  const heap = createMinHeap<HeapEntry>();
  let nextGen = 0;
  let timer: ClockTimer | undefined;
  let timerFireAt = Infinity;
  let closed = false;

  function emit(event: RefreshSchedulerEvent): void {
    try {
      onEvent?.(event);
    } catch {
      // An observer's failure must not stop the scheduler.
    }
  }

  function jitterMs(delayMs: number): number {
    return Math.min(policy.maxJitterMs, policy.jitterRatio * delayMs) * random();
  }

  /** dueFor returns when a token with `expiry`, received at `now`, should be refreshed. */
  function dueFor(expiry: RefreshExpiry | undefined | void, now: number): number {
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
        ? now + fallbackIntervalMs - jitterMs(fallbackIntervalMs)
        : refreshPoint({ accessToken: "", receivedAt, expiresAt }, policy, random());
    return Math.ceil(Math.max(point, now + minDelayMs));
  }

  function put(id: string, s: Session, at: number): void {
    s.dueAt = at;
    heap.push({ at, id, gen: s.gen });
  }

  function isStale(e: HeapEntry): boolean {
    return sessions.get(e.id)?.gen !== e.gen;
  }

  function compact(): void {
    if (heap.size > 1024 && heap.size > 2 * sessions.size) {
      heap.retain((e) => !isStale(e));
    }
  }

  function clearTimer(): void {
    if (timer !== undefined) {
      clock.clearTimeout(timer);
      timer = undefined;
      timerFireAt = Infinity;
    }
  }

  /** arm keeps exactly one timer, for the earliest live due time (capped at maxTimerDelayMs). */
  function arm(): void {
    while (heap.size > 0 && isStale(heap.peek()!)) {
      heap.pop();
    }
    const top = heap.peek();
    if (closed || top === undefined) {
      clearTimer();
      return;
    }
    const now = clock.now();
    if (top.at <= now && running.size >= maxConcurrent) {
      // Due work waits for a free slot; the refresh that frees it pumps again.
      clearTimer();
      return;
    }
    const fireAt = Math.max(now, Math.min(top.at, now + maxTimerDelayMs));
    if (timer !== undefined && timerFireAt <= fireAt) {
      return;
    }
    clearTimer();
    timerFireAt = fireAt;
    timer = clock.setTimeout(onTimer, fireAt - now);
  }

  function onTimer(): void {
    timer = undefined;
    timerFireAt = Infinity;
    pump();
  }

  /** pump starts every due refresh, in due order, while slots are free, then re-arms. */
  function pump(): void {
    if (closed) {
      return;
    }
    const now = clock.now();
    while (running.size < maxConcurrent) {
      const top = heap.peek();
      if (top === undefined) {
        break;
      }
      const s = sessions.get(top.id);
      if (s === undefined || s.gen !== top.gen) {
        heap.pop();
        continue;
      }
      if (top.at > now) {
        break;
      }
      heap.pop();
      s.dueAt = undefined;
      if (running.has(top.id)) {
        // An older, superseded refresh of this id still runs: never two at once.
        s.deferred = true;
        continue;
      }
      start(top.id, s);
    }
    arm();
  }

  function start(id: string, s: Session): void {
    const gen = s.gen;
    const controller = new AbortController();
    const started = clock.now();
    let result: Promise<RefreshExpiry | undefined | void>;
    try {
      result = Promise.resolve(refresh(id, { signal: controller.signal, attempt: s.failures + 1 }));
    } catch (err) {
      result = Promise.reject(err);
    }
    const run: Running = {
      gen,
      controller,
      settled: result.then(
        (expiry) => finish(id, run, started, true, expiry, undefined),
        (err: unknown) => finish(id, run, started, false, undefined, err),
      ),
    };
    running.set(id, run);
  }

  function finish(id: string, run: Running, started: number, ok: boolean, expiry: RefreshExpiry | undefined | void, error: unknown): void {
    if (running.get(id) === run) {
      running.delete(id);
    }
    const now = clock.now();
    const latencyMs = now - started;
    const s = sessions.get(id);
    if (closed || s === undefined || s.gen !== run.gen) {
      emit({ type: "discarded", id, latencyMs });
      if (s !== undefined && s.deferred) {
        s.deferred = false;
        put(id, s, now);
      }
    } else if (ok) {
      s.failures = 0;
      const nextRefreshAt = dueFor(expiry, now);
      put(id, s, nextRefreshAt);
      emit({ type: "refresh", id, outcome: "success", failures: 0, latencyMs, nextRefreshAt });
    } else {
      s.failures++;
      if (s.failures >= maxConsecutiveFailures) {
        sessions.delete(id);
        emit({ type: "gave_up", id, latencyMs, failures: s.failures, error });
      } else {
        const delay = Math.max(minDelayMs, failureRetryDelayMs);
        const retryAt = Math.ceil(Math.max(now + minDelayMs, now + delay - jitterMs(delay)));
        put(id, s, retryAt);
        emit({ type: "refresh", id, outcome: "failure", failures: s.failures, latencyMs, retryAt, error });
      }
    }
    pump();
  }

  function checkId(method: string, id: unknown): asserts id is string {
    if (typeof id !== "string") {
      throw new TypeError(`RefreshScheduler.${method}: "id" must be a string`);
    }
  }

  function schedule(id: string, token: RefreshExpiry = {}): number {
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
    // A new session object: entries and a deferred run of the old one become stale; a running refresh of it is discarded when it ends.
    const s: Session = { gen: ++nextGen, dueAt: undefined, failures: 0, deferred: false };
    sessions.set(id, s);
    const at = dueFor(token, clock.now());
    put(id, s, at);
    compact();
    arm();
    return at;
  }

  function cancel(id: string): boolean {
    checkId("cancel", id);
    const s = sessions.get(id);
    if (s === undefined) {
      return false;
    }
    sessions.delete(id);
    running.get(id)?.controller.abort(new Error(`refresh of session "${id}" cancelled`));
    compact();
    arm();
    return true;
  }

  function cancelAll(): void {
    sessions.clear();
    heap.clear();
    for (const [id, r] of running) {
      r.controller.abort(new Error(`refresh of session "${id}" cancelled`));
    }
    clearTimer();
  }

  return {
    schedule,
    scheduleFromExpiresIn(id, expiresInSeconds) {
      if (!Number.isFinite(expiresInSeconds)) {
        throw new TypeError('RefreshScheduler.scheduleFromExpiresIn: "expiresInSeconds" must be a finite number');
      }
      return schedule(id, { expiresInSeconds });
    },
    cancel,
    cancelAll,
    nextRefreshAt(id) {
      return sessions.get(id)?.dueAt;
    },
    get size() {
      return sessions.size;
    },
    async close() {
      closed = true;
      const settling = [...running.values()].map((r) => r.settled);
      cancelAll();
      await Promise.all(settling);
    },
  };
}

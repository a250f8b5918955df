import type { ClockTimer } from "../lib/clock.js";
import { raceAbort } from "./abort-race.js";
import { createMinHeap } from "./min-heap.js";
import { checkId, checkScheduleArgs, normalizeSchedulerOptions, schedulerDueAt, schedulerJitterMs } from "./refresh-scheduler-options.js";
import type {
  HeapEntry,
  Outcome,
  RefreshExpiry,
  RefreshScheduler,
  RefreshSchedulerEvent,
  RefreshSchedulerOptions,
  Running,
  Session,
} from "./refresh-scheduler-types.js";

export type {
  RefreshExpiry,
  RefreshScheduler,
  RefreshSchedulerEvent,
  RefreshSchedulerOptions,
  ScheduledRefreshContext,
  ScheduledRefreshFunction,
} from "./refresh-scheduler-types.js";

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
  const settings = normalizeSchedulerOptions(options);
  const {
    refresh,
    clock,
    minDelayMs,
    maxConsecutiveFailures,
    failureRetryDelayMs,
    maxConcurrent,
    maxTimerDelayMs,
    refreshTimeoutMs,
    onEvent,
  } = settings;

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

  const jitterMs = (delayMs: number) => schedulerJitterMs(settings, delayMs);
  const dueFor = (expiry: RefreshExpiry | undefined | void, now: number) => schedulerDueAt(settings, expiry, now);

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

  /**
   * arm keeps exactly one timer, for the earliest of: the next live due time (unless every slot
   * is taken: the refresh that frees one pumps again) and the next running refresh's deadline,
   * capped at maxTimerDelayMs.
   */
  function arm(): void {
    while (heap.size > 0 && isStale(heap.peek()!)) {
      heap.pop();
    }
    const top = heap.peek();
    const now = clock.now();
    const nextDue = top === undefined || (top.at <= now && running.size >= maxConcurrent) ? Infinity : top.at;
    const wakeAt = Math.min(nextDue, earliestDeadline());
    if (closed || wakeAt === Infinity) {
      clearTimer();
      return;
    }
    const fireAt = Math.max(now, Math.min(wakeAt, now + maxTimerDelayMs));
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

  /** pump cuts off overdue refreshes, starts every due refresh, in due order, while slots are free, then re-arms. */
  function pump(): void {
    if (closed) {
      return;
    }
    const now = clock.now();
    expireOverdue(now);
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
    const controller = new AbortController();
    let result: Promise<RefreshExpiry | undefined | void>;
    try {
      result = Promise.resolve(refresh(id, { signal: controller.signal, attempt: s.failures + 1 }));
    } catch (err) {
      result = Promise.reject(err);
    }
    const started = clock.now();
    const run: Running = {
      gen: s.gen,
      controller,
      started,
      deadlineAt: started + refreshTimeoutMs,
      done: false,
      settled: result.then(
        (expiry) => finish(id, run, { ok: true, expiry }),
        (error: unknown) => finish(id, run, { ok: false, error }),
      ),
    };
    running.set(id, run);
  }

  /** expireOverdue cuts off every running refresh past its deadline: aborted, counted as a failure. */
  function expireOverdue(now: number): void {
    for (const [id, run] of running) {
      if (run.deadlineAt <= now) {
        const error = new Error(`refresh of session "${id}" timed out after ${refreshTimeoutMs} ms`);
        finish(id, run, { ok: false, error }, false);
        run.controller.abort(error);
      }
    }
  }

  function earliestDeadline(): number {
    let at = Infinity;
    for (const run of running.values()) {
      at = Math.min(at, run.deadlineAt);
    }
    return at;
  }

  /** finish counts one refresh's outcome once (the first of: settled, deadline), frees its slot and pumps. */
  function finish(id: string, run: Running, outcome: Outcome, pumpAfter = true): void {
    if (run.done) {
      return;
    }
    run.done = true;
    if (running.get(id) === run) {
      running.delete(id);
    }
    const latencyMs = clock.now() - run.started;
    const s = sessions.get(id);
    if (closed || s === undefined || s.gen !== run.gen) {
      discard(id, s, latencyMs);
    } else if (outcome.ok) {
      succeed(id, s, latencyMs, outcome.expiry);
    } else {
      fail(id, s, latencyMs, outcome.error);
    }
    if (pumpAfter) {
      pump();
    }
  }

  /** discard drops the result of a refresh whose session was cancelled or rescheduled meanwhile. */
  function discard(id: string, s: Session | undefined, latencyMs: number): void {
    emit({ type: "discarded", id, latencyMs });
    if (s !== undefined && s.deferred) {
      // The new schedule came due while this refresh ran: it runs now.
      s.deferred = false;
      put(id, s, clock.now());
    }
  }

  function succeed(id: string, s: Session, latencyMs: number, expiry: RefreshExpiry | undefined | void): void {
    s.failures = 0;
    const nextRefreshAt = dueFor(expiry, clock.now());
    put(id, s, nextRefreshAt);
    emit({ type: "refresh", id, outcome: "success", failures: 0, latencyMs, nextRefreshAt });
  }

  function fail(id: string, s: Session, latencyMs: number, error: unknown): void {
    s.failures++;
    if (s.failures >= maxConsecutiveFailures) {
      sessions.delete(id);
      emit({ type: "gave_up", id, latencyMs, failures: s.failures, error });
      return;
    }
    const now = clock.now();
    const delay = Math.max(minDelayMs, failureRetryDelayMs);
    const retryAt = Math.ceil(Math.max(now + minDelayMs, now + delay - jitterMs(delay)));
    put(id, s, retryAt);
    emit({ type: "refresh", id, outcome: "failure", failures: s.failures, latencyMs, retryAt, error });
  }

  function schedule(id: string, token: RefreshExpiry = {}): number {
    checkScheduleArgs(id, token, closed);
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
      // Wait for each running refresh to settle, or only to be aborted if it ignores its signal.
      const settling = [...running.values()].map((r) => raceAbort(r.settled, r.controller.signal).catch(() => {}));
      cancelAll();
      await Promise.all(settling);
    },
  };
}

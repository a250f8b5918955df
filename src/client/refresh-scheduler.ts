import { raceAbort } from "./abort-race.js";
import { checkId, checkScheduleArgs, normalizeSchedulerOptions, schedulerDueAt } from "./refresh-scheduler-options.js";
import { createOutcomeRecorder } from "./refresh-scheduler-outcome.js";
import { createDueQueue } from "./refresh-scheduler-queue.js";
import { earliestDeadline, startRefreshRun } from "./refresh-scheduler-run.js";
import { createWakeTimer } from "./refresh-scheduler-timer.js";
import type { RefreshExpiry, RefreshScheduler, RefreshSchedulerEvent, RefreshSchedulerOptions, Running, Session } from "./refresh-scheduler-types.js";

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
  const { clock, maxConcurrent, maxTimerDelayMs, refreshTimeoutMs, onEvent } = settings;

  const sessions = new Map<string, Session>();
  const running = new Map<string, Running>();
  const queue = createDueQueue(sessions);
  const timer = createWakeTimer(clock, maxTimerDelayMs, pump);
  let nextGen = 0;
  let closed = false;

  function emit(event: RefreshSchedulerEvent): void {
    try {
      onEvent?.(event);
    } catch {
      // An observer's failure must not stop the scheduler.
    }
  }

  const finish = createOutcomeRecorder({ settings, sessions, running, queue, isClosed: () => closed, emit, pump });

  /**
   * arm keeps exactly one timer, for the earliest of: the next live due time (unless every slot
   * is taken: the refresh that frees one pumps again) and the next running refresh's deadline,
   * capped at maxTimerDelayMs.
   */
  function arm(): void {
    const top = queue.peekLive();
    const now = clock.now();
    const nextDue = top === undefined || (top.at <= now && running.size >= maxConcurrent) ? Infinity : top.at;
    timer.wakeAt(closed ? Infinity : Math.min(nextDue, earliestDeadline(running)), now);
  }

  /** pump cuts off overdue refreshes, starts every due refresh, in due order, while slots are free, then re-arms. */
  function pump(): void {
    if (closed) {
      return;
    }
    const now = clock.now();
    expireOverdue(now);
    while (running.size < maxConcurrent) {
      const top = queue.peekLive();
      if (top === undefined || top.at > now) {
        break;
      }
      queue.pop();
      const s = sessions.get(top.id)!;
      s.dueAt = undefined;
      if (running.has(top.id)) {
        // An older, superseded refresh of this id still runs: never two at once.
        s.deferred = true;
        continue;
      }
      running.set(top.id, startRefreshRun(settings, top.id, s, (run, outcome) => finish(top.id, run, outcome)));
    }
    arm();
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

  function schedule(id: string, token: RefreshExpiry = {}): number {
    checkScheduleArgs(id, token, closed);
    // A new session object: entries and a deferred run of the old one become stale; a running refresh of it is discarded when it ends.
    const s: Session = { gen: ++nextGen, dueAt: undefined, failures: 0, deferred: false };
    sessions.set(id, s);
    const at = schedulerDueAt(settings, token, clock.now());
    queue.put(id, s, at);
    queue.compact();
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
    queue.compact();
    arm();
    return true;
  }

  function cancelAll(): void {
    sessions.clear();
    queue.clear();
    for (const [id, r] of running) {
      r.controller.abort(new Error(`refresh of session "${id}" cancelled`));
    }
    timer.clear();
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

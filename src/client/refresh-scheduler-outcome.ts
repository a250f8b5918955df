import { schedulerDueAt, schedulerJitterMs, type SchedulerSettings } from "./refresh-scheduler-options.js";
import type { DueQueue } from "./refresh-scheduler-queue.js";
import type { Outcome, RefreshExpiry, RefreshSchedulerEvent, Running, Session } from "./refresh-scheduler-types.js";

/** OutcomeContext is the scheduler state that counting an outcome reads and updates. */
export interface OutcomeContext {
  settings: SchedulerSettings;
  sessions: Map<string, Session>;
  running: Map<string, Running>;
  queue: DueQueue;
  isClosed(): boolean;
  emit(event: RefreshSchedulerEvent): void;
  /** pump starts due refreshes in the slot a finished refresh freed. */
  pump(): void;
}

/** FinishRefresh counts one refresh's outcome; see {@link createOutcomeRecorder}. */
export type FinishRefresh = (id: string, run: Running, outcome: Outcome, pumpAfter?: boolean) => void;

/**
 * createOutcomeRecorder returns `finish`, which counts one refresh's outcome
 * once (the first of: settled, deadline), frees its slot and, unless
 * `pumpAfter` is false, pumps. A success schedules the next refresh from the
 * new expiry; a failure retries after `failureRetryDelayMs` or, after
 * `maxConsecutiveFailures`, gives the session up; the result of a refresh
 * whose session was cancelled or rescheduled meanwhile is discarded.
 */
export function createOutcomeRecorder(ctx: OutcomeContext): FinishRefresh {
  const { settings, sessions, running, queue, emit } = ctx;
  const { clock, minDelayMs, maxConsecutiveFailures, failureRetryDelayMs } = settings;

  function discard(id: string, s: Session | undefined, latencyMs: number): void {
    emit({ type: "discarded", id, latencyMs });
    if (s !== undefined && s.deferred) {
      // The new schedule came due while this refresh ran: it runs now.
      s.deferred = false;
      queue.put(id, s, clock.now());
    }
  }

  function succeed(id: string, s: Session, latencyMs: number, expiry: RefreshExpiry | undefined | void): void {
    s.failures = 0;
    const nextRefreshAt = schedulerDueAt(settings, expiry, clock.now());
    queue.put(id, s, nextRefreshAt);
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
    const retryAt = Math.ceil(Math.max(now + minDelayMs, now + delay - schedulerJitterMs(settings, delay)));
    queue.put(id, s, retryAt);
    emit({ type: "refresh", id, outcome: "failure", failures: s.failures, latencyMs, retryAt, error });
  }

  return (id, run, outcome, pumpAfter = true) => {
    if (run.done) {
      return;
    }
    run.done = true;
    if (running.get(id) === run) {
      running.delete(id);
    }
    const latencyMs = clock.now() - run.started;
    const s = sessions.get(id);
    if (ctx.isClosed() || s === undefined || s.gen !== run.gen) {
      discard(id, s, latencyMs);
    } else if (outcome.ok) {
      succeed(id, s, latencyMs, outcome.expiry);
    } else {
      fail(id, s, latencyMs, outcome.error);
    }
    if (pumpAfter) {
      ctx.pump();
    }
  };
}

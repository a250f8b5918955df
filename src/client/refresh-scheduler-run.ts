import type { SchedulerSettings } from "./refresh-scheduler-options.js";
import type { Outcome, RefreshExpiry, Running, Session } from "./refresh-scheduler-types.js";

/**
 * startRefreshRun calls the refresh function for session `s` of `id` (a
 * synchronous throw counts as a rejection) and returns the run, due to be
 * cut off `refreshTimeoutMs` from now. `onSettled` receives the outcome when
 * the function's promise settles.
 */
export function startRefreshRun(
  settings: SchedulerSettings,
  id: string,
  s: Session,
  onSettled: (run: Running, outcome: Outcome) => void,
): Running {
  const controller = new AbortController();
  let result: Promise<RefreshExpiry | undefined | void>;
  try {
    result = Promise.resolve(settings.refresh(id, { signal: controller.signal, attempt: s.failures + 1 }));
  } catch (err) {
    result = Promise.reject(err);
  }
  const started = settings.clock.now();
  const run: Running = {
    gen: s.gen,
    controller,
    started,
    deadlineAt: started + settings.refreshTimeoutMs,
    done: false,
    settled: result.then(
      (expiry) => onSettled(run, { ok: true, expiry }),
      (error: unknown) => onSettled(run, { ok: false, error }),
    ),
  };
  return run;
}

/** earliestDeadline returns the earliest cut-off time of the `running` refreshes, `Infinity` when none runs. */
export function earliestDeadline(running: ReadonlyMap<string, Running>): number {
  let at = Infinity;
  for (const run of running.values()) {
    at = Math.min(at, run.deadlineAt);
  }
  return at;
}

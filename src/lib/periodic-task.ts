import type { Clock, ClockTimer } from "./clock.js";

/** PeriodicTask is a task running every interval; see {@link startPeriodicTask}. */
export interface PeriodicTask<T> {
  /** runOnce runs the task now; a run already in flight is shared, not doubled. */
  runOnce(): Promise<T>;
  /** stop cancels the timer (a run in flight finishes). Idempotent. */
  stop(): void;
}

/**
 * startPeriodicTask runs `run` every `intervalMs` on `clock` (timers are
 * unref'd, so it never keeps a process alive), one run at a time: the next
 * interval starts when a run ends. A run's result goes to `onResult`, its
 * failure to `onError`, and the task carries on either way.
 */
export function startPeriodicTask<T>(options: {
  clock: Clock;
  intervalMs: number;
  run: () => Promise<T>;
  onResult?: (result: T) => void;
  onError: (err: unknown) => void;
}): PeriodicTask<T> {
  const { clock, intervalMs, run, onResult, onError } = options;
  let timer: ClockTimer | undefined;
  let stopped = false;
  let inFlight: Promise<T> | undefined;

  function runOnce(): Promise<T> {
    inFlight ??= run().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function arm(): void {
    if (stopped) {
      return;
    }
    timer = clock.setTimeout(() => {
      runOnce()
        .then((r) => onResult?.(r))
        .catch(onError)
        .finally(arm);
    }, intervalMs);
  }
  arm();

  return {
    runOnce,
    stop() {
      stopped = true;
      if (timer !== undefined) {
        clock.clearTimeout(timer);
      }
    },
  };
}

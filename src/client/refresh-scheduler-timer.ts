import type { Clock, ClockTimer } from "../lib/clock.js";

/** WakeTimer is the scheduler's one live timer. */
export interface WakeTimer {
  /**
   * wakeAt makes the timer fire at `at` (local clock, ms), clamped to
   * between `now` and `now` + `maxDelayMs`, unless it already fires no later;
   * `Infinity` clears it.
   */
  wakeAt(at: number, now: number): void;
  /** clear stops the timer. */
  clear(): void;
}

/**
 * createWakeTimer returns a {@link WakeTimer} calling `onWake` on `clock`.
 * `maxDelayMs` caps every wait, so a machine waking from sleep finds overdue
 * work by comparing `clock.now()` with due times, never by trusting a long timer.
 */
export function createWakeTimer(clock: Clock, maxDelayMs: number, onWake: () => void): WakeTimer {
  let timer: ClockTimer | undefined;
  let fireAt = Infinity;

  function clear(): void {
    if (timer !== undefined) {
      clock.clearTimeout(timer);
      timer = undefined;
      fireAt = Infinity;
    }
  }

  function fire(): void {
    timer = undefined;
    fireAt = Infinity;
    onWake();
  }

  return {
    wakeAt(at, now) {
      if (at === Infinity) {
        clear();
        return;
      }
      const next = Math.max(now, Math.min(at, now + maxDelayMs));
      if (timer !== undefined && fireAt <= next) {
        return;
      }
      clear();
      fireAt = next;
      timer = clock.setTimeout(fire, next - now);
    },
    clear,
  };
}

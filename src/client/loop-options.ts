import { systemClock, type Clock } from "../lib/clock.js";

/** LoopOptions are the options every long-running client helper shares. */
export interface LoopOptions<E> {
  /** signal ends the loop when it aborts. */
  signal?: AbortSignal;
  /** clock supplies time and timers. */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. */
  random?: () => number;
  /** onEvent observes the loop. */
  onEvent?: (event: E) => void;
}

/** CheckedLoopOptions are {@link LoopOptions} validated, with defaults, and `emit` that ignores a throwing observer. */
export interface CheckedLoopOptions<E> {
  signal: AbortSignal | undefined;
  clock: Clock;
  random: () => number;
  onEvent: ((event: E) => void) | undefined;
  emit(event: E): void;
}

/**
 * checkLoopOptions validates the shared options of a long-running helper
 * (`who` names it in the `TypeError`s) and fills their defaults:
 * `systemClock`, `Math.random`.
 */
export function checkLoopOptions<E>(who: string, options: LoopOptions<E>): CheckedLoopOptions<E> {
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== "function" || typeof clock.setTimeout !== "function" || typeof clock.clearTimeout !== "function") {
    throw new TypeError(`${who}: option "clock" must implement now, setTimeout and clearTimeout`);
  }
  const random = options.random ?? Math.random;
  if (typeof random !== "function") {
    throw new TypeError(`${who}: option "random" must be a function`);
  }
  const { onEvent, signal } = options;
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new TypeError(`${who}: option "onEvent" must be a function`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${who}: option "signal" must be an AbortSignal`);
  }
  return {
    signal,
    clock,
    random,
    onEvent,
    emit(event) {
      try {
        onEvent?.(event);
      } catch {
        // An observer's failure must not stop the loop it observes.
      }
    },
  };
}

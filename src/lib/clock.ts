/**
 * Clock is the source of time and timers for every time-dependent decision in
 * tokenkit. Inject one to test expiry and scheduling without sleeping.
 *
 * The default {@link systemClock} reads `Date.now()` and the global timer
 * functions at call time, so vitest's fake timers control it too.
 */
export interface Clock {
  /** now returns the current time in milliseconds since the Unix epoch. */
  now(): number;
  /**
   * setTimeout runs `fn` after `ms` milliseconds. Timers created through a
   * clock never keep a Node process alive (they are `unref`'d where the
   * runtime supports it).
   */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  /** clearTimeout cancels a timer returned by {@link Clock.setTimeout}. */
  clearTimeout(timer: ClockTimer): void;
}

/** ClockTimer is an opaque handle returned by {@link Clock.setTimeout}. */
export type ClockTimer = unknown;

/**
 * systemClock is the real clock: `Date.now()` and the global timers, with
 * every timer `unref`'d so that a pending refresh never keeps a process alive.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = globalThis.setTimeout(fn, ms) as unknown as { unref?: () => void };
    if (typeof t === "object" && t !== null && typeof t.unref === "function") {
      t.unref();
    }
    return t;
  },
  clearTimeout(timer) {
    globalThis.clearTimeout(timer as ReturnType<typeof globalThis.setTimeout>);
  },
};

import { vi } from "vitest";
import type { Clock } from "../../src/lib/clock.js";

/**
 * DateClock is a Clock for tests where a real server that reads `Date.now()`
 * (oidc-provider) and tokenkit must agree on the time: with vitest faking
 * only `Date`, `now()` is the faked `Date.now()`, and `advance` moves it —
 * for both — firing this clock's timers in order. Network I/O keeps its real
 * timers, so nothing here waits in real time.
 */
export interface DateClock extends Clock {
  /** advance moves the faked time forward by `ms`, firing due timers (each at its own time) and letting their I/O settle. */
  advance(ms: number): Promise<void>;
  /** timers is the number of pending timers. */
  readonly timers: number;
  /**
   * busy, when set, is awaited after each fired timer before time moves on: it resolves once the
   * real I/O a timer started (a refresh over HTTP) is done, so a jump never overtakes it.
   */
  busy?: () => Promise<unknown>;
}

/** settle lets pending I/O callbacks and promise continuations run (a real event-loop turn, no delay). */
export const settle = () => new Promise<void>((r) => setImmediate(r));

/** createDateClock fakes `Date` (only) and returns the {@link DateClock} that drives it; undo with `vi.useRealTimers()`. */
export function createDateClock(): DateClock {
  vi.useFakeTimers({ toFake: ["Date"] });
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const clock: DateClock = {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const id = ++seq;
      pending.set(id, { at: Date.now() + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(timer) {
      pending.delete(timer as number);
    },
    async advance(ms) {
      const target = Date.now() + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of pending) {
          if (e[1].at <= target && (next === undefined || e[1].at < next[1].at)) next = e;
        }
        if (next === undefined) break;
        pending.delete(next[0]);
        vi.setSystemTime(Math.max(Date.now(), next[1].at));
        next[1].fn();
        await settle();
        await clock.busy?.();
        await settle();
      }
      vi.setSystemTime(target);
      await settle();
    },
    get timers() {
      return pending.size;
    },
  };
  return clock;
}

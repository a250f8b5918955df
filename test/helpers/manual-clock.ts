import type { Clock } from "../../src/lib/clock.js";

/** ManualClock is a Clock whose time only moves when a test says so. */
export interface ManualClock extends Clock {
  /** set moves the clock to an absolute time in ms, firing due timers in order. */
  set(ms: number): void;
  /** advance moves the clock forward by `ms`, firing due timers in order. */
  advance(ms: number): void;
  /**
   * jump moves the clock forward by `ms` the way a machine waking from sleep
   * sees it: no timer fires in between; then every overdue timer fires once,
   * late, with the clock already at the new time.
   */
  jump(ms: number): void;
  /** timers is the number of pending timers. */
  readonly timers: number;
}

/** createManualClock returns a {@link ManualClock} starting at `startMs`. */
export function createManualClock(startMs = Date.UTC(2026, 0, 1)): ManualClock {
  let now = startMs;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  function runDue(until: number): void {
    for (;;) {
      let nextId: number | undefined;
      let nextAt = Infinity;
      for (const [id, t] of pending) {
        if (t.at <= until && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId === undefined) {
        break;
      }
      const t = pending.get(nextId)!;
      pending.delete(nextId);
      now = Math.max(now, t.at);
      t.fn();
    }
    now = until;
  }
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      pending.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(timer) {
      pending.delete(timer as number);
    },
    set(ms) {
      runDue(ms);
    },
    advance(ms) {
      runDue(now + ms);
    },
    jump(ms) {
      now += ms;
      const due = [...pending].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at);
      for (const [id, t] of due) {
        if (pending.delete(id)) t.fn();
      }
    },
    get timers() {
      return pending.size;
    },
  };
}

/**
 * until yields to the event loop (no timers, no sleeping) until `condition`
 * holds, for at most `maxTurns` turns: for work that completes through real
 * async I/O such as WebCrypto signatures in an in-process server.
 */
export async function until(condition: () => boolean, maxTurns = 200_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (condition()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error("condition not reached");
}

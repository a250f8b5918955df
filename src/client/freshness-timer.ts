import type { Clock, ClockTimer } from "../lib/clock.js";
import { documentVisibility, isVisibilitySource, type VisibilitySource } from "./page-visibility.js";

/**
 * AutoRefreshOptions configures a token source's `autoRefresh`: a timer that
 * refreshes at the refresh point even when no call asks for a token, aware
 * of page visibility and of the machine sleeping.
 */
export interface AutoRefreshOptions {
  /**
   * visibility suspends the timer while the page is hidden (browsers throttle
   * or freeze hidden pages' timers, so it would fire late anyway); when the
   * page is visible again the source checks freshness once. `false` treats
   * the page as always visible.
   * @default documentVisibility() — the Page Visibility API where a `document` exists, else always visible
   */
  visibility?: VisibilitySource | false;
  /**
   * maxTimerDelayMs caps one wait of the timer, at least 1 000. Timers stop
   * while a machine sleeps; waking at least this often to compare the clock
   * with the refresh point bounds how late a refresh is after a sleep.
   * @default 60 000
   */
  maxTimerDelayMs?: number;
  /**
   * wakeThresholdMs: a timer that fires this much later than asked means the
   * machine slept (or the page was frozen); the source then checks freshness
   * once and emits a `wake` event.
   * @default 5 000 — well above timer jitter under load, well below any sleep worth noticing
   */
  wakeThresholdMs?: number;
}

/** FreshnessCheckReason says why a freshness timer asked for a check. */
export type FreshnessCheckReason = "timer" | "visible" | "wake";

/** FreshnessTimer is the internal timer behind `autoRefresh`. */
export interface FreshnessTimer {
  /** rearm re-reads the due time and waits for it (nothing while hidden or without a due time). */
  rearm(): void;
  /** stop clears the timer and stops watching visibility. Idempotent. */
  stop(): void;
}

/** FreshnessTimerHooks are what a {@link FreshnessTimer} drives. */
export interface FreshnessTimerHooks {
  /** clock supplies time and timers. */
  clock: Clock;
  /** dueAt returns when a check is due (local clock, ms), or undefined when there is nothing to keep fresh. */
  dueAt: () => number | undefined;
  /** check runs a freshness check; it must call `rearm` (directly or after a refresh) to keep the timer going. */
  check: (reason: FreshnessCheckReason) => void;
  /** onWake hears that a timer fired `lateMs` late (sleep or a frozen page). */
  onWake?: (lateMs: number) => void;
  /** onVisibility hears every visibility change. */
  onVisibility?: (visible: boolean) => void;
}

/** NormalizedAutoRefresh is {@link AutoRefreshOptions} with defaults applied. */
interface NormalizedAutoRefresh {
  visibility: VisibilitySource | undefined;
  maxTimerDelayMs: number;
  wakeThresholdMs: number;
}

/**
 * normalizeAutoRefresh validates a token source's `autoRefresh` option
 * (TypeError naming it) and applies the defaults; `undefined` means off.
 */
export function normalizeAutoRefresh(option: boolean | AutoRefreshOptions | undefined, who: string): NormalizedAutoRefresh | undefined {
  if (option === undefined || option === false) {
    return undefined;
  }
  if (option !== true && (typeof option !== "object" || option === null)) {
    throw new TypeError(`${who}: option "autoRefresh" must be a boolean or an object`);
  }
  const o: AutoRefreshOptions = option === true ? {} : option;
  if (o.visibility !== undefined && o.visibility !== false && !isVisibilitySource(o.visibility)) {
    throw new TypeError(`${who}: option "autoRefresh.visibility" must be a VisibilitySource or false`);
  }
  const maxTimerDelayMs = o.maxTimerDelayMs ?? 60_000;
  if (!Number.isFinite(maxTimerDelayMs) || maxTimerDelayMs < 1000) {
    throw new TypeError(`${who}: option "autoRefresh.maxTimerDelayMs" must be a number of milliseconds, at least 1000`);
  }
  const wakeThresholdMs = o.wakeThresholdMs ?? 5000;
  if (!Number.isFinite(wakeThresholdMs) || wakeThresholdMs <= 0) {
    throw new TypeError(`${who}: option "autoRefresh.wakeThresholdMs" must be a positive number of milliseconds`);
  }
  const visibility = o.visibility === false ? undefined : (o.visibility ?? documentVisibility());
  return { visibility, maxTimerDelayMs, wakeThresholdMs };
}

/**
 * createFreshnessTimer returns the timer behind a token source's
 * `autoRefresh`. While the page is visible it keeps one timer armed for
 * `dueAt()`, never longer than `maxTimerDelayMs`, and calls `check("timer")`
 * when it is due. A timer firing more than `wakeThresholdMs` late means the
 * machine slept: `check("wake")` runs once, whatever the due time. While the
 * page is hidden no timer is armed at all; becoming visible runs
 * `check("visible")` once.
 */
export function createFreshnessTimer(settings: NormalizedAutoRefresh, hooks: FreshnessTimerHooks): FreshnessTimer {
  const { clock, dueAt, check } = hooks;
  const { visibility, maxTimerDelayMs, wakeThresholdMs } = settings;
  let timer: ClockTimer | undefined;
  let stopped = false;
  let wasVisible = visibility?.visible ?? true;

  function clear(): void {
    if (timer !== undefined) {
      clock.clearTimeout(timer);
      timer = undefined;
    }
  }

  function rearm(): void {
    clear();
    if (stopped || !(visibility?.visible ?? true)) {
      return;
    }
    const due = dueAt();
    if (due === undefined) {
      return;
    }
    const delay = Math.min(Math.max(0, due - clock.now()), maxTimerDelayMs);
    const expected = clock.now() + delay;
    timer = clock.setTimeout(() => {
      timer = undefined;
      if (stopped) {
        return;
      }
      const late = clock.now() - expected;
      if (late > wakeThresholdMs) {
        hooks.onWake?.(late);
        check("wake");
      } else if (clock.now() >= due) {
        check("timer");
      } else {
        rearm();
      }
    }, delay);
  }

  const unsubscribe = visibility?.subscribe(() => {
    if (stopped) {
      return;
    }
    const visible = visibility.visible;
    if (visible !== wasVisible) {
      wasVisible = visible;
      hooks.onVisibility?.(visible);
    }
    if (visible) {
      // Becoming visible, or a frozen page resuming: timers may have been throttled, check once.
      clear();
      check("visible");
    } else {
      clear();
    }
  });

  return {
    rearm,
    stop() {
      stopped = true;
      clear();
      unsubscribe?.();
    },
  };
}

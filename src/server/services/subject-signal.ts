import type { Clock } from "../../lib/clock.js";

/** SubjectWatch is one watch's view of a {@link SubjectSignal}; see {@link SubjectSignal.watch}. */
export interface SubjectWatch {
  /** version changes every time the subject gets new events in this process. */
  readonly version: number;
  /**
   * wait resolves once `version` differs from `since`, after `ms`, or when
   * `signal` aborts — whichever comes first. It never rejects.
   */
  wait(since: number, ms: number, signal: AbortSignal): Promise<void>;
  /** close ends the watch's interest in the subject. */
  close(): void;
}

/** SubjectSignal wakes the watches of a subject when it gets new events. */
export interface SubjectSignal {
  /** watch registers interest in `subject` until the returned watch is closed. */
  watch(subject: string): SubjectWatch;
  /** notify wakes every watch of `subject`. */
  notify(subject: string): void;
  /** watchers returns how many watches of `subject` are open. */
  watchers(subject: string): number;
}

interface Entry {
  version: number;
  watchers: number;
  wakers: Set<() => void>;
}

/**
 * createSubjectSignal returns the in-process wake-up hub of the event
 * service: an append wakes the subject's watches at once. Only subjects
 * with open watches take memory. A watch captures the version before it
 * reads the store, so an append that lands between the read and the wait is
 * never missed.
 */
export function createSubjectSignal(clock: Clock): SubjectSignal {
  const entries = new Map<string, Entry>();
  return {
    watch(subject) {
      let entry = entries.get(subject);
      if (entry === undefined) {
        entry = { version: 0, watchers: 0, wakers: new Set() };
        entries.set(subject, entry);
      }
      entry.watchers++;
      const e = entry;
      let closed = false;
      return {
        get version() {
          return e.version;
        },
        wait(since, ms, signal) {
          if (e.version !== since || signal.aborted || closed) {
            return Promise.resolve();
          }
          return new Promise<void>((resolve) => {
            const done = () => {
              clock.clearTimeout(timer);
              signal.removeEventListener("abort", done);
              e.wakers.delete(done);
              resolve();
            };
            const timer = clock.setTimeout(done, Math.max(0, ms));
            signal.addEventListener("abort", done, { once: true });
            e.wakers.add(done);
          });
        },
        close() {
          if (closed) {
            return;
          }
          closed = true;
          if (--e.watchers === 0 && entries.get(subject) === e) {
            entries.delete(subject);
          }
        },
      };
    },
    watchers(subject) {
      return entries.get(subject)?.watchers ?? 0;
    },
    notify(subject) {
      const e = entries.get(subject);
      if (e === undefined) {
        return;
      }
      e.version++;
      for (const wake of [...e.wakers]) {
        wake();
      }
    },
  };
}

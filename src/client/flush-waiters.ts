/** FlushWaiters are the pending `flush()` calls of an event uploader, each waiting for events up to a sequence number to settle. */
export interface FlushWaiters<S, E> {
  /** wait returns a promise that resolves once every event up to `upTo` is settled. */
  wait(upTo: number): Promise<S>;
  /** settled resolves, with `snapshot()`, every waiter whose events are all settled now that `settledSeq` is. */
  settled(settledSeq: number, snapshot: () => S): void;
  /** waitingBeyond reports whether a waiter still waits for an event after `settledSeq`. */
  waitingBeyond(settledSeq: number): boolean;
  /** rejectAll rejects every waiter with `err` and forgets them. */
  rejectAll(err: E): void;
}

/** createFlushWaiters returns an empty {@link FlushWaiters}. */
export function createFlushWaiters<S, E>(): FlushWaiters<S, E> {
  const waiters: { upTo: number; resolve(stats: S): void; reject(err: E): void }[] = [];
  return {
    wait: (upTo) => new Promise<S>((resolve, reject) => waiters.push({ upTo, resolve, reject })),
    settled(settledSeq, snapshot) {
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i]!;
        if (w.upTo <= settledSeq) {
          waiters.splice(i, 1);
          w.resolve(snapshot());
        }
      }
    },
    waitingBeyond: (settledSeq) => waiters.some((w) => w.upTo > settledSeq),
    rejectAll(err) {
      for (const w of waiters.splice(0)) {
        w.reject(err);
      }
    },
  };
}

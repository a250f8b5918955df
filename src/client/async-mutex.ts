/**
 * AsyncMutex runs async critical sections one at a time, in the order they
 * asked (a promise chain: no polling, no timers).
 */
export interface AsyncMutex {
  /**
   * run calls `fn` once every earlier holder is done and resolves to its
   * result. A waiter whose `signal` aborts leaves the queue at once,
   * rejecting with the signal's reason, without disturbing the others. Not
   * reentrant: `fn` must not call `run` on the same mutex.
   */
  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** createAsyncMutex returns an unlocked {@link AsyncMutex}. */
export function createAsyncMutex(): AsyncMutex {
  // Settles when every holder queued so far is done.
  let tail: Promise<void> = Promise.resolve();
  return {
    async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      signal?.throwIfAborted();
      let release!: () => void;
      const done = new Promise<void>((resolve) => (release = resolve));
      const previous = tail;
      // The next waiter waits for the previous holder and this one, even if this one gives up waiting.
      tail = previous.then(() => done);
      try {
        await waitUnlessAborted(previous, signal);
      } catch (err) {
        release();
        throw err;
      }
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}

function waitUnlessAborted(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) {
    return promise;
  }
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

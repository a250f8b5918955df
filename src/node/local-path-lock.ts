import { createAsyncMutex, type AsyncMutex } from "../client/async-mutex.js";

/**
 * LocalPathLocks queues the holders of one path inside this process (so
 * stores on one file wait in memory instead of polling its lock file) and
 * keeps an entry only while a path is held or awaited: a process that
 * touches many files does not keep one mutex per path forever.
 */
export interface LocalPathLocks {
  /** run calls `fn` once every earlier holder of `path` in this process is done; see {@link AsyncMutex.run}. */
  run<T>(path: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** size is the number of paths held or awaited right now. */
  readonly size: number;
}

/** createLocalPathLocks returns an empty {@link LocalPathLocks}. */
export function createLocalPathLocks(): LocalPathLocks {
  const entries = new Map<string, { mutex: AsyncMutex; users: number }>();
  return {
    async run(path, fn, signal) {
      let entry = entries.get(path);
      if (entry === undefined) {
        entry = { mutex: createAsyncMutex(), users: 0 };
        entries.set(path, entry);
      }
      entry.users++;
      try {
        return await entry.mutex.run(fn, signal);
      } finally {
        if (--entry.users === 0) {
          entries.delete(path);
        }
      }
    },
    get size() {
      return entries.size;
    },
  };
}

/** localPathLocks is the process-wide {@link LocalPathLocks} of the file token store. */
export const localPathLocks: LocalPathLocks = createLocalPathLocks();

import { open, readFile, rename, unlink } from "node:fs/promises";

/** FileLockOptions configures {@link acquireFileLock}. */
export interface FileLockOptions {
  /** timeoutMs bounds the wait for the lock. @default 10 000 */
  timeoutMs?: number;
  /**
   * staleMs is the age after which a lock is taken over even if its owner
   * looks alive (a hung process must not block every other one forever).
   * @default 30 000
   */
  staleMs?: number;
  /** retryDelayMs is the base delay between attempts (jittered ±50 %). @default 10 */
  retryDelayMs?: number;
  /** signal aborts the wait. */
  signal?: AbortSignal;
}

/** FileLockError is thrown when a lock cannot be had; `code` is `ERR_LOCK_TIMEOUT` or `ERR_LOCK_ABORTED`. */
export class FileLockError extends Error {
  override name = "FileLockError";
  /** code identifies the failure. */
  readonly code: "ERR_LOCK_TIMEOUT" | "ERR_LOCK_ABORTED";
  constructor(code: FileLockError["code"], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function isStale(path: string, staleMs: number): Promise<boolean> {
  let owner: { pid?: number; createdAt?: number };
  try {
    owner = JSON.parse(await readFile(path, "utf8")) as typeof owner;
  } catch (err) {
    // Gone (released meanwhile) or half-written by an owner that is creating it right now.
    return false;
  }
  if (typeof owner.pid === "number" && !alive(owner.pid)) {
    return true;
  }
  return typeof owner.createdAt === "number" && Date.now() - owner.createdAt > staleMs;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(new FileLockError("ERR_LOCK_ABORTED", "waiting for the lock was aborted", { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * acquireFileLock takes an exclusive cross-process lock: it creates
 * `lockPath` with `O_EXCL` (mode 0600) holding the owner's pid and time, and
 * returns the function that releases it. A lock whose owner process is dead,
 * or that is older than `staleMs`, is taken over by renaming it away first —
 * atomic, so two waiters can never both take over the same stale lock.
 * Waiting is real time (another process holds the lock), in short jittered steps.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const staleMs = options.staleMs ?? 30_000;
  const retryDelayMs = options.retryDelayMs ?? 10;
  const { signal } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) {
      throw new FileLockError("ERR_LOCK_ABORTED", "waiting for the lock was aborted", { cause: signal.reason });
    }
    try {
      const fh = await open(lockPath, "wx", 0o600);
      try {
        await fh.writeFile(JSON.stringify({ pid: process.pid, createdAt: Date.now() }));
      } finally {
        await fh.close();
      }
      let released = false;
      return async () => {
        if (!released) {
          released = true;
          await unlink(lockPath).catch(() => {});
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw err;
      }
    }
    if (await isStale(lockPath, staleMs)) {
      // Move the stale lock aside; only one waiter's rename succeeds, the others retry.
      const aside = `${lockPath}.stale.${process.pid}.${Math.random().toString(36).slice(2)}`;
      try {
        await rename(lockPath, aside);
        await unlink(aside).catch(() => {});
      } catch {
        // Another waiter took it over first.
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new FileLockError("ERR_LOCK_TIMEOUT", `timed out after ${timeoutMs} ms waiting for the lock ${lockPath}`);
    }
    await sleep(retryDelayMs * (0.5 + Math.random()), signal);
  }
}

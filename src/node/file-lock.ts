import { randomBytes } from "node:crypto";
import { open, readFile, stat, unlink, utimes } from "node:fs/promises";
import { hostname } from "node:os";
import { systemClock, type Clock, type ClockTimer } from "../lib/clock.js";
import { isProcessAlive } from "./process-alive.js";

/** FileLockOptions configures {@link acquireFileLock}. */
export interface FileLockOptions {
  /**
   * timeoutMs bounds the wait for the lock; then it rejects with `ERR_LOCK_TIMEOUT`.
   * @default 10 000 — far longer than a token refresh holds it
   */
  timeoutMs?: number;
  /**
   * staleMs: a lock file not touched for this long is taken over even if its
   * owner looks alive (a hung process must not block every other one
   * forever). The holder touches the file every `staleMs / 3` while it holds
   * the lock, so a slow but live holder is never taken over.
   * @default 30 000
   */
  staleMs?: number;
  /**
   * retryDelayMs is the first delay between attempts; it doubles per attempt
   * up to `maxRetryDelayMs`, with ±50 % jitter. Waiting here is real time:
   * the lock is held by another process.
   * @default 10
   */
  retryDelayMs?: number;
  /** maxRetryDelayMs caps the delay between attempts. @default 100 */
  maxRetryDelayMs?: number;
  /** signal aborts the wait; it then rejects with `ERR_LOCK_ABORTED` (the reason as `cause`). */
  signal?: AbortSignal;
  /**
   * clock supplies `now()` for the deadline and lock ages, and the holder's
   * heartbeat timer. Lock ages compare it with file modification times, so
   * it must follow the system clock outside tests.
   * @default systemClock
   */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
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

/** LockOwner is what a lock file holds: who took it, and a nonce so that a holder only ever removes its own lock. */
interface LockOwner {
  pid: number;
  hostname: string;
  acquiredAt: number;
  nonce: string;
}

type LockState =
  | { kind: "gone" }
  | { kind: "held"; owner: LockOwner | undefined; mtimeMs: number };

async function inspect(path: string): Promise<LockState> {
  try {
    const [text, st] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    let owner: LockOwner | undefined;
    try {
      const o = JSON.parse(text) as Partial<LockOwner>;
      if (Number.isInteger(o.pid) && (o.pid as number) > 0) {
        // A lock without a host name (an older writer) is taken to be local.
        owner = {
          pid: o.pid as number,
          hostname: typeof o.hostname === "string" ? o.hostname : HOST,
          acquiredAt: Number(o.acquiredAt),
          nonce: typeof o.nonce === "string" ? o.nonce : "",
        };
      }
    } catch {
      // Empty or half-written: its owner is creating it right now, or died doing so. Only its age tells.
    }
    return { kind: "held", owner, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return { kind: "gone" };
    }
    throw err;
  }
}


const HOST = hostname();

/** staleReason says why a held lock may be taken over, or undefined if it may not. */
function staleReason(state: LockState, now: number, staleMs: number): string | undefined {
  if (state.kind !== "held") {
    return undefined;
  }
  const o = state.owner;
  // A pid only means something on the host that wrote it (a lock on a shared file system).
  if (o !== undefined && o.hostname === HOST && o.pid !== process.pid && !isProcessAlive(o.pid)) {
    return `owner pid ${o.pid} is dead`;
  }
  if (now - state.mtimeMs > staleMs) {
    return `not touched for ${Math.round(now - state.mtimeMs)} ms`;
  }
  return undefined;
}

/**
 * takeOver removes a stale lock. Only the holder of the guard file
 * `<lockPath>.takeover` (created with O_EXCL) may remove a lock, and it
 * re-checks staleness while holding the guard, so two waiters that both saw
 * the same stale lock can never remove a fresh lock created in between.
 * Resolves to false when another waiter holds the guard (the caller waits).
 */
async function takeOver(lockPath: string, now: () => number, staleMs: number): Promise<boolean> {
  const guard = `${lockPath}.takeover`;
  let fh;
  try {
    fh = await open(guard, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      throw err;
    }
    // Another waiter is taking over. A guard left by a waiter that died mid-takeover is removed once stale.
    const st = await stat(guard).catch(() => undefined);
    if (st !== undefined && now() - st.mtimeMs > staleMs) {
      await unlink(guard).catch(() => {});
    }
    return false;
  }
  await fh.close();
  try {
    if (staleReason(await inspect(lockPath), now(), staleMs) !== undefined) {
      await unlink(lockPath).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
    }
  } finally {
    await unlink(guard).catch(() => {});
  }
  return true;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    // A plain (ref'd) timer: the caller is waiting on it, so the process must stay alive.
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(aborted(signal!));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): FileLockError {
  return new FileLockError("ERR_LOCK_ABORTED", "waiting for the lock was aborted", { cause: signal.reason });
}

/**
 * acquireFileLock takes an exclusive cross-process lock on `lockPath` and
 * resolves to the function that releases it (idempotent; call it in a
 * `finally`).
 *
 * The lock file is created with `O_EXCL` (mode 0600) and holds the owner's
 * pid, host name, time and a random nonce. While it is held, its
 * modification time is refreshed every `staleMs / 3`. A waiter retries with
 * short jittered, growing delays until `timeoutMs`; it takes a lock over when
 * the owner process is dead (same host, `kill(pid, 0)` fails with `ESRCH`)
 * or the file was not touched for `staleMs` (a hung owner, or one that died
 * before writing the file). Takeover happens under a guard file, so it is
 * safe with any number of waiters. Release removes the file only if it still
 * holds this owner's nonce, never a lock someone took over meanwhile.
 *
 * Waiting is real time (another process holds the lock); the retry delays
 * are small and configurable.
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<() => Promise<void>> {
  if (typeof lockPath !== "string" || lockPath === "") {
    throw new TypeError('acquireFileLock: "lockPath" must be a non-empty string');
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const staleMs = options.staleMs ?? 30_000;
  const retryDelayMs = options.retryDelayMs ?? 10;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? Math.max(100, retryDelayMs);
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const { signal } = options;
  for (const [name, v] of [
    ["timeoutMs", timeoutMs],
    ["staleMs", staleMs],
    ["retryDelayMs", retryDelayMs],
    ["maxRetryDelayMs", maxRetryDelayMs],
  ] as const) {
    if (!(Number.isFinite(v) && v >= 0)) {
      throw new TypeError(`acquireFileLock: option "${name}" must be a non-negative number of milliseconds`);
    }
  }
  if (staleMs < 3) {
    throw new TypeError('acquireFileLock: option "staleMs" must be at least 3 ms');
  }
  const now = () => clock.now();
  const deadline = now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) {
      throw aborted(signal);
    }
    const owner: LockOwner = { pid: process.pid, hostname: HOST, acquiredAt: now(), nonce: randomBytes(12).toString("hex") };
    let fh;
    try {
      fh = await open(lockPath, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw err;
      }
    }
    if (fh !== undefined) {
      try {
        await fh.writeFile(JSON.stringify(owner));
        await fh.close();
      } catch (err) {
        await fh.close().catch(() => {});
        await unlink(lockPath).catch(() => {});
        throw err;
      }
      if (signal?.aborted) {
        await unlink(lockPath).catch(() => {});
        throw aborted(signal);
      }
      return holdLock(lockPath, owner, clock, staleMs);
    }
    const state = await inspect(lockPath);
    if (state.kind === "gone") {
      continue;
    }
    if (staleReason(state, now(), staleMs) !== undefined && (await takeOver(lockPath, now, staleMs))) {
      continue;
    }
    const left = deadline - now();
    if (left <= 0) {
      const by = state.owner === undefined ? "" : ` (held by pid ${state.owner.pid} on ${state.owner.hostname || "an unknown host"})`;
      throw new FileLockError("ERR_LOCK_TIMEOUT", `timed out after ${timeoutMs} ms waiting for the lock ${lockPath}${by}`);
    }
    const base = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.min(attempt, 16));
    await sleep(Math.min(left, Math.max(1, base * (0.5 + random()))), signal);
  }
}

/** holdLock starts the heartbeat and returns the release function. */
function holdLock(lockPath: string, owner: LockOwner, clock: Clock, staleMs: number): () => Promise<void> {
  let released = false;
  let timer: ClockTimer | undefined;
  const beat = () => {
    timer = clock.setTimeout(() => {
      void (async () => {
        const state = await inspect(lockPath).catch(() => undefined);
        if (released || state?.kind !== "held" || state.owner?.nonce !== owner.nonce) {
          return; // Released, or taken over after all: stop touching a file that is not ours.
        }
        const t = new Date();
        await utimes(lockPath, t, t).catch(() => {});
        if (!released) beat();
      })();
    }, staleMs / 3);
  };
  beat();
  return async () => {
    if (released) {
      return;
    }
    released = true;
    if (timer !== undefined) {
      clock.clearTimeout(timer);
    }
    const state = await inspect(lockPath).catch(() => undefined);
    if (state?.kind === "held" && state.owner?.nonce === owner.nonce) {
      await unlink(lockPath).catch(() => {});
    }
  };
}

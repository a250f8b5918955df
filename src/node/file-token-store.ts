import { mkdir, open, readdir, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { decodeStoredToken, encodeStoredToken, TokenStoreCorruptError } from "../client/stored-token-codec.js";
import type { TokenStore } from "../client/token-store.js";
import { syncDirectory, writeFileAtomic } from "../lib/atomic-file.js";
import { acquireFileLock, FileLockError } from "./file-lock.js";
import { localPathLocks } from "./local-path-lock.js";
import { isProcessAlive } from "./process-alive.js";

/** FileTokenStoreOptions configures {@link createFileTokenStore}. */
export interface FileTokenStoreOptions {
  /**
   * path is the token file. Missing directories are created with mode 0700;
   * the lock lives next to it in `<path>.lock`. Required.
   */
  path: string;
  /**
   * lockTimeoutMs bounds the wait for the cross-process lock (`ERR_LOCK_TIMEOUT` after it).
   * @default 10 000 — far longer than a refresh holds the lock
   */
  lockTimeoutMs?: number;
  /**
   * staleLockMs: a lock not touched for this long is taken over (the holder
   * touches it every third of this while it runs; a dead holder's lock is
   * taken over at once).
   * @default 30 000
   */
  staleLockMs?: number;
  /**
   * lockRetryDelayMs is the first delay between attempts to take a lock held
   * by another process (doubling up to 100 ms, jittered).
   * @default 10
   */
  lockRetryDelayMs?: number;
}

/** MAX_FILE_BYTES bounds what `load` reads: a token file is a few KiB; anything huge is not one. */
const MAX_FILE_BYTES = 1 << 20;

const WINDOWS = process.platform === "win32";

/**
 * createFileTokenStore returns a {@link TokenStore} in one JSON file
 * (`{"version":1,"token":{…}}`), for Node.
 *
 * - Atomic: `save` writes `<path>.<pid>.<random>.tmp` in the same directory
 *   (mode 0600, `O_EXCL`), fsyncs it, renames it over the file and fsyncs the
 *   directory, so a crash or kill at any moment leaves the old or the new
 *   token, never a torn file. Temporary files left by killed processes are
 *   removed by the next process's first save.
 * - Private: the file has mode 0600 (a wider mode found on `load` is narrowed;
 *   a save replaces the file with a 0600 one); directories it creates have mode 0700.
 * - `load` returns `undefined` for a missing file and throws
 *   {@link TokenStoreCorruptError} (`ERR_TOKEN_STORE_CORRUPT`, naming the
 *   path, never the content) for a file that is not a token — it never
 *   silently treats a damaged session as absent.
 * - `lock` is a cross-process exclusive lock ({@link acquireFileLock} on
 *   `<path>.lock`) held across `fn`, so two processes sharing a session rotate
 *   its refresh token once; callers in one process queue in memory first.
 *   It rejects with `ERR_LOCK_TIMEOUT` or `ERR_LOCK_ABORTED`.
 *
 * @example
 * const store = createFileTokenStore({ path: join(homedir(), ".config", "myapp", "token.json") });
 */
export function createFileTokenStore(options: FileTokenStoreOptions): TokenStore {
  if (typeof options?.path !== "string" || options.path === "") {
    throw new TypeError('createFileTokenStore: option "path" must be a non-empty string');
  }
  const path = resolve(options.path);
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  const staleLockMs = options.staleLockMs ?? 30_000;
  const lockRetryDelayMs = options.lockRetryDelayMs ?? 10;
  for (const [name, v] of [
    ["lockTimeoutMs", lockTimeoutMs],
    ["staleLockMs", staleLockMs],
    ["lockRetryDelayMs", lockRetryDelayMs],
  ] as const) {
    if (!(Number.isFinite(v) && v > 0)) {
      throw new TypeError(`createFileTokenStore: option "${name}" must be a positive number of milliseconds`);
    }
  }
  const dir = dirname(path);
  const base = basename(path);
  const lockPath = `${path}.lock`;
  const tmpPattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(\\d+)\\.[0-9a-f]+\\.tmp$`);
  let sweptTemps = false;

  async function sweepTemps(): Promise<void> {
    sweptTemps = true;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      const m = tmpPattern.exec(name);
      if (m !== null && Number(m[1]) !== process.pid && !isProcessAlive(Number(m[1]))) {
        await unlink(join(dir, name)).catch(() => {});
      }
    }
  }

  return {
    async load() {
      let fh;
      try {
        fh = await open(path, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          return undefined;
        }
        throw err;
      }
      let text: string;
      try {
        const st = await fh.stat();
        if (!WINDOWS && (st.mode & 0o077) !== 0) {
          // Someone widened it (or wrote it by hand): narrow it again. Not our file → leave it.
          await fh.chmod(0o600).catch(() => {});
        }
        if (st.size > MAX_FILE_BYTES) {
          throw new TokenStoreCorruptError(`token file ${path} is ${st.size} bytes, too large to be a token`);
        }
        text = await fh.readFile("utf8");
      } finally {
        await fh.close();
      }
      return decodeStoredToken(text, `token file ${path}`);
    },

    async save(token) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (token === undefined) {
        try {
          await unlink(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
          return;
        }
        await syncDirectory(dir);
        return;
      }
      await writeFileAtomic(path, encodeStoredToken(token));
      if (!sweptTemps) {
        await sweepTemps();
      }
    },

    async lock(fn, lockOptions) {
      const signal = lockOptions?.signal;
      let queued = true;
      const holdFileLock = async () => {
        queued = false;
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const release = await acquireFileLock(lockPath, { timeoutMs: lockTimeoutMs, staleMs: staleLockMs, retryDelayMs: lockRetryDelayMs, signal });
        try {
          return await fn();
        } finally {
          await release();
        }
      };
      try {
        return await localPathLocks.run(path, holdFileLock, signal);
      } catch (err) {
        if (queued && signal?.aborted && err === signal.reason) {
          // Aborted while queued behind a holder in this process: the same error as while waiting for another process.
          throw new FileLockError("ERR_LOCK_ABORTED", "waiting for the lock was aborted", { cause: err });
        }
        throw err;
      }
    },
  };
}

import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { StoredToken, TokenStore } from "../client/token-store.js";
import { acquireFileLock } from "./file-lock.js";

/** FileTokenStoreOptions configures {@link createFileTokenStore}. */
export interface FileTokenStoreOptions {
  /** path is the token file; its directory is created with mode 0700. Required. */
  path: string;
  /** lockTimeoutMs bounds the wait for the cross-process lock. @default 10 000 */
  lockTimeoutMs?: number;
  /** staleLockMs is when a lock held by a live but hung process is taken over. @default 30 000 */
  staleLockMs?: number;
}

/** TokenStoreCorruptError is thrown by `load` for a file that is not a token; `code` is `ERR_TOKEN_STORE_CORRUPT`. */
export class TokenStoreCorruptError extends Error {
  override name = "TokenStoreCorruptError";
  /** code identifies the failure. */
  readonly code = "ERR_TOKEN_STORE_CORRUPT";
}

function isStoredToken(v: unknown): v is StoredToken {
  const t = v as StoredToken;
  return typeof t === "object" && t !== null && typeof t.accessToken === "string" && typeof t.receivedAt === "number" && typeof t.expiresAt === "number";
}

/**
 * createFileTokenStore returns a {@link TokenStore} in one JSON file, for
 * Node. Writes are atomic (temporary file in the same directory, fsync,
 * rename, fsync of the directory), so a crash or kill leaves either the old
 * or the new token, never a torn file; the file has mode 0600. `lock` is a
 * cross-process lock (`<path>.lock`), so two processes sharing a session
 * rotate its refresh token once.
 */
export function createFileTokenStore(options: FileTokenStoreOptions): TokenStore {
  if (typeof options?.path !== "string" || options.path === "") {
    throw new TypeError('createFileTokenStore: option "path" must be a non-empty string');
  }
  const { path } = options;
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  const staleLockMs = options.staleLockMs ?? 30_000;
  for (const [name, v] of [["lockTimeoutMs", lockTimeoutMs], ["staleLockMs", staleLockMs]] as const) {
    if (!Number.isFinite(v) || v <= 0) {
      throw new TypeError(`createFileTokenStore: option "${name}" must be a positive number`);
    }
  }
  const dir = dirname(path);

  async function syncDir(): Promise<void> {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          return undefined;
        }
        throw err;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new TokenStoreCorruptError(`token file ${path} is not valid JSON`);
      }
      const token = (parsed as { version?: number; token?: unknown }).token;
      if ((parsed as { version?: number }).version !== 1 || !isStoredToken(token)) {
        throw new TokenStoreCorruptError(`token file ${path} does not hold a token`);
      }
      return token;
    },
    async save(token) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (token === undefined) {
        await unlink(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw err;
        });
        return;
      }
      const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
      const fh = await open(tmp, "wx", 0o600);
      try {
        await fh.writeFile(JSON.stringify({ version: 1, token }));
        await fh.sync();
      } catch (err) {
        await fh.close();
        await unlink(tmp).catch(() => {});
        throw err;
      }
      await fh.close();
      try {
        await rename(tmp, path);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw err;
      }
      // The renamed file is the 0600 temporary file: a wider mode on the old file does not survive.
      await syncDir();
    },
    async lock(fn, lockOptions) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const release = await acquireFileLock(`${path}.lock`, { timeoutMs: lockTimeoutMs, staleMs: staleLockMs, signal: lockOptions?.signal });
      try {
        return await fn();
      } finally {
        await release();
      }
    },
  };
}

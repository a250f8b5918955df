import { mkdir, stat } from "node:fs/promises";
import type { Logger } from "../../lib/logger.js";

/**
 * prepareDataDir makes sure the server's data directory exists: a new one is
 * created with mode 0700 (it holds the signing keys, the admin key and every
 * session). An existing one is used as it is — the operator may share it with
 * a group on purpose — but when group or others have any access, one warning
 * line says so and how to fix it. A path that is not a directory throws.
 */
export async function prepareDataDir(dir: string, logger: Logger | undefined): Promise<void> {
  let mode: number;
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) {
      throw new Error(`the data dir ${dir} is not a directory`);
    }
    mode = info.mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw err;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return;
  }
  if (process.platform !== "win32" && (mode & 0o077) !== 0) {
    logger?.warn?.(`tokenkit: the data dir ${dir} is accessible by other users (mode ${mode.toString(8)}); chmod 700 it`);
  }
}

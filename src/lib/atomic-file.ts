// Node-only file helpers shared by the file token store (`tokenkit/node`) and the server's
// data dir (keys, admin key, issuer). Nothing reachable from the `tokenkit` entry imports this file.
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

const WINDOWS = process.platform === "win32";

/** readFileIfExists returns a file's UTF-8 text, or `undefined` when it does not exist. */
export async function readFileIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return undefined;
    }
    throw err;
  }
}

/** syncDirectory fsyncs a directory so that a rename in it is durable (a no-op on Windows, where NTFS journals it). */
export async function syncDirectory(dir: string): Promise<void> {
  if (WINDOWS) {
    return;
  }
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * writeFileAtomic replaces `path` with `data` so that a crash or kill leaves
 * either the old or the new content, never a torn file: it writes
 * `<path>.<pid>.<random>.tmp` in the same directory (`O_EXCL`, mode exactly
 * 0600 whatever the umask), fsyncs it, renames it over `path` and fsyncs the
 * directory (created 0700 if missing). The result has mode 0600 whatever the
 * old file had. A temporary file left by a killed process can be recognized
 * by its pid.
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const fh = await open(tmp, "wx", 0o600);
  try {
    try {
      if (!WINDOWS) {
        await fh.chmod(0o600);
      }
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}

import { randomBytes } from "node:crypto";
import { link, mkdir, open, stat, unlink } from "node:fs/promises";
import { readFileIfExists } from "../../lib/atomic-file.js";
import { dirname } from "node:path";
import type { Logger } from "../../lib/logger.js";
import { estimateKeyEntropyBits, MIN_ADMIN_KEY_BITS } from "./admin-key-strength.js";

/** AdminKeyFile is the admin key read from, or generated into, a file. */
export interface AdminKeyFile {
  /** key is the admin key. Never log it. */
  key: string;
  /** path is the file holding it. */
  path: string;
  /** generated is true when the key was created just now. */
  generated: boolean;
}

/**
 * generateAdminKey returns a new admin key: 32 random bytes, base64url
 * (43 characters, 256 bits of entropy).
 */
export function generateAdminKey(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * loadOrCreateAdminKey reads the admin key from `path`, or, when the file does
 * not exist, generates one ({@link generateAdminKey}) and writes it there with
 * mode 0600 (its directory created with mode 0700), so that a restart reuses
 * it. Creation is exclusive: two servers starting at once end up with the
 * same key. An existing file readable by group or others is used but logged
 * as a warning; an empty one is an error.
 */
export async function loadOrCreateAdminKey(path: string, logger?: Logger): Promise<AdminKeyFile> {
  if (typeof path !== "string" || path === "") {
    throw new TypeError("loadOrCreateAdminKey: path must be a non-empty string");
  }
  const existing = await readKey(path, logger);
  if (existing !== undefined) {
    return { key: existing, path, generated: false };
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const key = generateAdminKey();
  // Write the key to a private temporary file, then link it into place: the link either creates
  // `path` with the whole key or fails with EEXIST. No reader (and no crash) ever sees an empty file.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const handle = await open(tmp, "wx", 0o600);
  try {
    // The umask may have removed bits, never added any; chmod makes it exactly 0600.
    await handle.chmod(0o600);
    await handle.writeFile(`${key}\n`, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      const raced = await readKey(path, logger);
      if (raced !== undefined) {
        return { key: raced, path, generated: false };
      }
    }
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  return { key, path, generated: true };
}

/** ResolvedAdminKey is the admin key a server runs with, and where it came from. */
export interface ResolvedAdminKey {
  /** key is the admin key. Never log it. */
  key: string;
  /** path is the file it came from; undefined when it was given directly. */
  path: string | undefined;
  /** generated is true when the file was created by this start. */
  generated: boolean;
}

/**
 * resolveAdminKey returns the admin key given directly, else the one in
 * `file` ({@link loadOrCreateAdminKey}: generated there on first start, and
 * logged — its path only — when it was). A key found in the file with under
 * {@link MIN_ADMIN_KEY_BITS} bits of estimated entropy is used, with one
 * warning line that never quotes it.
 */
export async function resolveAdminKey(given: string | undefined, file: string, logger: Logger | undefined): Promise<ResolvedAdminKey> {
  if (given !== undefined) {
    return { key: given, path: undefined, generated: false };
  }
  const loaded = await loadOrCreateAdminKey(file, logger);
  if (loaded.generated) {
    logger?.info?.(`tokenkit: generated an admin key in ${loaded.path}`);
  } else {
    // A key written by hand is used (refusing it would stop a running deployment) but flagged.
    const bits = Math.floor(estimateKeyEntropyBits(loaded.key));
    if (bits < MIN_ADMIN_KEY_BITS) {
      logger?.warn?.(
        `tokenkit: the admin key in ${loaded.path} is easy to guess (about ${bits} bits of entropy; at least ${MIN_ADMIN_KEY_BITS} bits are needed): ` +
          "replace it with the output of `openssl rand -base64 32`",
      );
    }
  }
  return loaded;
}

async function readKey(path: string, logger: Logger | undefined): Promise<string | undefined> {
  const text = await readFileIfExists(path);
  if (text === undefined) {
    return undefined;
  }
  const key = text.trim();
  if (key === "") {
    throw new Error(`the admin key file ${path} is empty; delete it to generate a new key`);
  }
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) {
    logger?.warn?.(`tokenkit: the admin key file ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  }
  return key;
}


import { readFileSync } from "node:fs";
import { parseKeyEncryptionKey } from "../server/keys/key-encryption.js";
import type { ParsedFlags } from "./flags.js";
import { UsageError } from "./usage-error.js";

/** KEY_ENCRYPTION_KEY_ENV is the environment variable holding the key-encryption key itself. */
export const KEY_ENCRYPTION_KEY_ENV = "TOKENKIT_KEY_ENCRYPTION_KEY";

/**
 * keyEncryptionKeyFrom returns the key-encryption key text for the Postgres
 * key store: `TOKENKIT_KEY_ENCRYPTION_KEY`, else the contents of
 * `--key-encryption-key-file` (or its twin), else undefined. A malformed key
 * or an unreadable file throws a {@link UsageError} naming its source, never
 * quoting the key.
 */
export function keyEncryptionKeyFrom(flags: ParsedFlags, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const direct = env[KEY_ENCRYPTION_KEY_ENV];
  let text: string | undefined;
  let source: string;
  if (direct !== undefined && direct !== "") {
    text = direct;
    source = KEY_ENCRYPTION_KEY_ENV;
  } else {
    const path = flags.string("key-encryption-key-file");
    if (path === undefined) {
      return undefined;
    }
    source = `${flags.label("key-encryption-key-file")} ${path}`;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new UsageError(`${source}: cannot read the key-encryption key: ${(err as Error).message}`);
    }
  }
  try {
    parseKeyEncryptionKey(text, source);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return text;
}

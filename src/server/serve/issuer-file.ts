import { access } from "node:fs/promises";
import { join } from "node:path";
import { readFileIfExists, writeFileAtomic } from "../../lib/atomic-file.js";
import type { Logger } from "../../lib/logger.js";
import { KEYS_FILE_NAME } from "./server-config.js";

/** ISSUER_FILE_NAME is the file beside the keys that keeps the issuer of a data dir's tokens. */
export const ISSUER_FILE_NAME = "issuer";

/** IssuerChoice is what {@link resolveIssuer} decides from. */
export interface IssuerChoice {
  /** given is the issuer the operator set, if any. */
  given: string | undefined;
  /** dataDir holds the keys, and so the kept issuer. */
  dataDir: string;
  /** keep is true when the keys live in `dataDir`: only then can an issuer outlive this start. */
  keep: boolean;
  /** listenUrl is this start's `http://HOST:PORT`. */
  listenUrl: string;
  /** logger hears when the issuer is adopted or changed. */
  logger: Logger | undefined;
}

/**
 * resolveIssuer returns the `iss` of this start's tokens. Refresh tokens
 * rotate only under the issuer that signed them, so a data dir keeps its
 * issuer in `<dataDir>/issuer` (mode 0600) and a restart on another address
 * keeps every session:
 *
 * - an issuer the operator sets wins, and is kept (a warning when it replaces
 *   another: sessions issued under the old one stop rotating);
 * - otherwise the kept one is used;
 * - otherwise this start's listening URL is chosen and kept. A data dir that
 *   already holds keys was written by a release that did not keep the issuer:
 *   its tokens carry the address it listened on, which is taken to be this
 *   one — the only restart under which those sessions survived before — and
 *   one info line says so (set the issuer once to the old address if not).
 *
 * Without keys in the data dir (memory or shared stores) nothing is kept and
 * the given issuer or the listening URL is used.
 */
export async function resolveIssuer(choice: IssuerChoice): Promise<string> {
  const { given, dataDir, listenUrl, logger } = choice;
  if (!choice.keep) {
    return given ?? listenUrl;
  }
  const path = join(dataDir, ISSUER_FILE_NAME);
  const kept = await readKeptIssuer(path);
  if (given !== undefined) {
    if (kept !== given) {
      await writeFileAtomic(path, `${given}\n`);
      if (kept !== undefined) {
        logger?.warn?.(`tokenkit: the issuer changed from ${kept} to ${given} (kept in ${path}); sessions issued under the old one no longer rotate`);
      }
    }
    return given;
  }
  if (kept !== undefined) {
    return kept;
  }
  const written = await exists(join(dataDir, KEYS_FILE_NAME));
  await writeFileAtomic(path, `${listenUrl}\n`);
  if (written) {
    logger?.info?.(
      `tokenkit: this data dir kept no issuer; tokens it issued before carry the address it listened on, taken to be ${listenUrl} ` +
        `(kept in ${path}; if it listened elsewhere, set the issuer to that address once)`,
    );
  }
  return listenUrl;
}

async function readKeptIssuer(path: string): Promise<string | undefined> {
  const text = await readFileIfExists(path);
  if (text === undefined) {
    return undefined;
  }
  const issuer = text.trim();
  if (!/^https?:\/\/[^\s/]\S*$/.test(issuer)) {
    throw new Error(`the issuer file ${path} holds no http(s) URL; write the issuer of this data dir's tokens into it, or delete it to adopt the listening address`);
  }
  return issuer;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

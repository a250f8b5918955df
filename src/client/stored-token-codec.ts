import type { StoredToken } from "./token-store.js";

/**
 * STORED_TOKEN_FORMAT_VERSION is the `version` field every tokenkit store
 * writes next to the token (`{"version":1,"token":{…}}`), so that a later
 * format can be told apart from a corrupt value.
 */
export const STORED_TOKEN_FORMAT_VERSION = 1;

/**
 * TokenStoreCorruptError is raised for a stored value that is not a tokenkit
 * token: unparsable JSON, an unknown format version, or missing or mistyped
 * fields. `code` is `ERR_TOKEN_STORE_CORRUPT`; callers switch on it, never on
 * the message. The message names where the value was read from and what is
 * wrong, never any of its content (it may hold token text).
 */
export class TokenStoreCorruptError extends Error {
  override name = "TokenStoreCorruptError";
  /** code identifies the failure: always `ERR_TOKEN_STORE_CORRUPT`. */
  readonly code = "ERR_TOKEN_STORE_CORRUPT";
}

/**
 * encodeStoredToken serializes `token` in the stores' JSON format, keeping
 * only the fields of {@link StoredToken} (an extra field a caller attached
 * is not persisted).
 */
export function encodeStoredToken(token: StoredToken): string {
  const t: StoredToken = { accessToken: token.accessToken, receivedAt: token.receivedAt, expiresAt: token.expiresAt };
  if (token.refreshToken !== undefined) t.refreshToken = token.refreshToken;
  if (token.refreshExpiresAt !== undefined) t.refreshExpiresAt = token.refreshExpiresAt;
  if (token.sessionId !== undefined) t.sessionId = token.sessionId;
  if (token.scopes !== undefined) t.scopes = [...token.scopes];
  return JSON.stringify({ version: STORED_TOKEN_FORMAT_VERSION, token: t });
}

/**
 * decodeStoredToken parses text written by {@link encodeStoredToken} and
 * checks every field's type, returning a fresh object with only the known
 * fields. It throws {@link TokenStoreCorruptError} naming `where` (a path or
 * key) for anything else; the JSON parser's own message is dropped because
 * it quotes the input.
 */
export function decodeStoredToken(text: string, where: string): StoredToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TokenStoreCorruptError(`${where} is not valid JSON (${text.length} characters)`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TokenStoreCorruptError(`${where} does not hold a tokenkit token object`);
  }
  const { version, token } = parsed as { version?: unknown; token?: unknown };
  if (version !== STORED_TOKEN_FORMAT_VERSION) {
    throw new TokenStoreCorruptError(
      typeof version === "number"
        ? `${where} has format version ${version}; this tokenkit reads version ${STORED_TOKEN_FORMAT_VERSION}`
        : `${where} has no format version; it was not written by tokenkit`,
    );
  }
  if (typeof token !== "object" || token === null || Array.isArray(token)) {
    throw new TokenStoreCorruptError(`${where} has no "token" object`);
  }
  const t = token as Record<string, unknown>;
  const bad = (field: string, want: string) => new TokenStoreCorruptError(`${where}: field "token.${field}" must be ${want}`);
  if (typeof t.accessToken !== "string") throw bad("accessToken", "a string");
  if (!Number.isFinite(t.receivedAt)) throw bad("receivedAt", "a number");
  if (!Number.isFinite(t.expiresAt)) throw bad("expiresAt", "a number");
  const out: StoredToken = { accessToken: t.accessToken, receivedAt: t.receivedAt as number, expiresAt: t.expiresAt as number };
  if (t.refreshToken !== undefined) {
    if (typeof t.refreshToken !== "string") throw bad("refreshToken", "a string");
    out.refreshToken = t.refreshToken;
  }
  if (t.refreshExpiresAt !== undefined) {
    if (!Number.isFinite(t.refreshExpiresAt)) throw bad("refreshExpiresAt", "a number");
    out.refreshExpiresAt = t.refreshExpiresAt as number;
  }
  if (t.sessionId !== undefined) {
    if (typeof t.sessionId !== "string") throw bad("sessionId", "a string");
    out.sessionId = t.sessionId;
  }
  if (t.scopes !== undefined) {
    if (!Array.isArray(t.scopes) || !t.scopes.every((s) => typeof s === "string")) throw bad("scopes", "an array of strings");
    out.scopes = [...(t.scopes as string[])];
  }
  return out;
}

/**
 * readStoredToken reads and decodes one stored pair for a browser store's
 * `load`: what `read` returns (a string, a structured value, or
 * `undefined`/`null` for nothing), decoded with {@link decodeStoredToken}.
 * A failing read or an unreadable value counts as no token and is passed to
 * `onError` (an observer that throws is ignored), so a bad value never turns
 * a store into one that throws.
 */
export async function readStoredToken(read: () => unknown, where: string, onError?: (error: unknown) => void): Promise<StoredToken | undefined> {
  const report = (err: unknown) => {
    try {
      onError?.(err);
    } catch {
      // An observer's failure must not turn a readable-as-empty store into a throwing one.
    }
  };
  let text: unknown;
  try {
    text = await read();
  } catch (err) {
    report(err);
    return undefined;
  }
  if (text === undefined || text === null) {
    return undefined;
  }
  try {
    return decodeStoredToken(typeof text === "string" ? text : JSON.stringify(text), where);
  } catch (err) {
    report(err);
    return undefined;
  }
}

import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

/**
 * KeyEncryptionKey seals the private signing keys a shared key store keeps
 * (AES-256-GCM). Build one with {@link parseKeyEncryptionKey}.
 */
export interface KeyEncryptionKey {
  /** id fingerprints the key (not secret), so a store can tell which key sealed a row. */
  readonly id: string;
  /** seal encrypts `plaintext`, bound to `context` (e.g. the kid): another context cannot open it. */
  seal(plaintext: Uint8Array, context: string): Uint8Array;
  /** open decrypts what {@link KeyEncryptionKey.seal} produced for the same `context`; throws when it was altered or sealed with another key. */
  open(sealed: Uint8Array, context: string): Uint8Array;
}

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** KEY_ENCRYPTION_KEY_HINT says how to make a valid key-encryption key, for error messages. */
export const KEY_ENCRYPTION_KEY_HINT = "32 random bytes in base64 or hex, e.g. the output of `openssl rand -base64 32`";

function decode(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) {
    return Buffer.from(t, "hex");
  }
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    return b.length === 32 ? b : undefined;
  }
  return undefined;
}

/**
 * parseKeyEncryptionKey reads a key-encryption key: 32 random bytes written
 * as base64, base64url or hex (surrounding whitespace, such as a file's final
 * newline, is ignored). `source` names where the text came from
 * (`TOKENKIT_KEY_ENCRYPTION_KEY`, a file path) in the `TypeError` thrown for
 * anything else; the text itself is never quoted.
 *
 * Security: whoever holds this key and a copy of the database can sign
 * tokens. Keep it out of the database's backups, e.g. in a secret manager.
 */
export function parseKeyEncryptionKey(text: string | Uint8Array, source = "the key-encryption key"): KeyEncryptionKey {
  const raw = typeof text === "string" ? decode(text) : text.length === 32 ? Buffer.from(text) : undefined;
  if (raw === undefined) {
    throw new TypeError(`${source} must be ${KEY_ENCRYPTION_KEY_HINT}`);
  }
  const aesKey = Buffer.from(hkdfSync("sha256", raw, Buffer.alloc(0), "tokenkit signing-key encryption v1", 32));
  const id = createHash("sha256").update("tokenkit key-encryption-key id v1\0").update(raw).digest("base64url").slice(0, 16);
  const aad = (context: string) => Buffer.from(`tokenkit signing key\0${context}`);
  return {
    id,
    seal(plaintext, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", aesKey, iv);
      cipher.setAAD(aad(context));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), iv, body, cipher.getAuthTag()]);
    },
    open(sealed, context) {
      const b = Buffer.from(sealed);
      if (b.length < 1 + IV_BYTES + TAG_BYTES || b[0] !== VERSION) {
        throw new Error("sealed key has an unknown format");
      }
      const decipher = createDecipheriv("aes-256-gcm", aesKey, b.subarray(1, 1 + IV_BYTES));
      decipher.setAAD(aad(context));
      decipher.setAuthTag(b.subarray(b.length - TAG_BYTES));
      return Buffer.concat([decipher.update(b.subarray(1 + IV_BYTES, b.length - TAG_BYTES)), decipher.final()]);
    },
  };
}

import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync } from "node:crypto";
import { randomPooled } from "./random-pool.js";

const SALT = Buffer.from("tokenkit.v1 grace box");
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * keyFor derives the box key from the predecessor token: HKDF-Extract (RFC 5869 §2.2, HMAC-SHA-256
 * keyed with the salt), which alone yields a uniform key from a secret with the entropy of a refresh
 * token (256 random bits in a handle, a signature in a JWT).
 */
function keyFor(token: string): Buffer {
  return createHmac("sha256", SALT).update(token, "utf8").digest();
}

/** legacyKeyFor is the full HKDF (extract and expand) earlier releases sealed with. */
function legacyKeyFor(token: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(token, "utf8"), SALT, Buffer.alloc(0), 32));
}

/**
 * hashToken returns base64url(SHA-256(token)): the only form in which stores
 * keep refresh tokens.
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("base64url");
}

/**
 * sealForToken encrypts `plaintext` (the successor pair) with AES-256-GCM
 * under a key derived (HKDF-Extract) from the predecessor refresh token. The store
 * keeps only this box and the token's SHA-256 hash, so the successor can be
 * returned again — byte-identical — only to someone presenting the
 * predecessor, which is exactly the grace-window case.
 */
export function sealForToken(token: string, plaintext: Uint8Array): Uint8Array {
  const iv = randomPooled(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", keyFor(token), iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

/** openForToken reverses {@link sealForToken}; it throws when the box was not sealed for `token`. */
export function openForToken(token: string, box: Uint8Array): Uint8Array {
  const buf = Buffer.from(box.buffer, box.byteOffset, box.byteLength);
  if (buf.length < IV_BYTES + TAG_BYTES) {
    throw new Error("sealed pair is truncated");
  }
  try {
    return open(keyFor(token), buf);
  } catch {
    // A box sealed by an earlier release, re-presented within grace across the upgrade.
    return open(legacyKeyFor(token), buf);
  }
}

function open(key: Buffer, buf: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, buf.subarray(0, IV_BYTES));
  decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
  return Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
}

import { randomFillSync } from "node:crypto";

/** POOL_BYTES is how much randomness one system call fetches: about sixty rotations' worth. */
const POOL_BYTES = 4096;

const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** take reserves `bytes` unread bytes of the pool, refilling it first when too few are left, and returns their offset. */
function take(bytes: number): number {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/**
 * randomPooled returns `bytes` fresh random bytes (at most {@link POOL_BYTES})
 * from a pool filled by the CSPRNG; each byte is handed out once and then
 * zeroed in the pool. A rotation needs three random values (the refresh
 * handle, the access token's `jti`, the sealed pair's IV); drawing each from
 * the system costs a native call apiece, the pool one per ~60 rotations —
 * the trade node:crypto's own `randomUUID` makes.
 */
export function randomPooled(bytes: number): Buffer {
  const at = take(bytes);
  const out = Buffer.from(pool.subarray(at, at + bytes));
  pool.fill(0, at, at + bytes);
  return out;
}

/** randomId returns `bytes` fresh random bytes from the pool, as base64url. */
export function randomId(bytes: number): string {
  const at = take(bytes);
  const id = pool.toString("base64url", at, at + bytes);
  pool.fill(0, at, at + bytes);
  return id;
}

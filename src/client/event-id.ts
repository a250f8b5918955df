/**
 * newEventId returns a random RFC 4122 version 4 UUID for an event's
 * idempotency key: `crypto.randomUUID()` where it exists (Node ≥ 19, browsers
 * in secure contexts), else the same format from `crypto.getRandomValues`
 * (browsers on plain http), so ids are unguessable everywhere.
 */
export function newEventId(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") {
    return c.randomUUID();
  }
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

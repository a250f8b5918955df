/** MIN_ADMIN_KEY_BITS is the least estimated entropy `tokenkit serve` accepts in an admin key: 128 bits, out of reach of any guessing. */
export const MIN_ADMIN_KEY_BITS = 128;

/**
 * estimateKeyEntropyBits estimates how many bits of entropy a secret typed or
 * pasted by an operator carries, conservatively: the Shannon entropy of its
 * characters (how evenly it uses its alphabet) times the number of
 * characters that do not merely repeat or step from the one before
 * (`aaaa`, `1234`, `abcd` add nothing). A random key scores close to its
 * true entropy — 32 random bytes in base64 (`openssl rand -base64 32`)
 * about 200 bits — while words and patterns score low
 * (`example-admin-key-change-me` about 90).
 */
export function estimateKeyEntropyBits(key: string): number {
  const chars = [...key];
  const counts = new Map<string, number>();
  for (const c of chars) {
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let bitsPerChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    bitsPerChar -= p * Math.log2(p);
  }
  let fresh = 0;
  for (let i = 0; i < chars.length; i++) {
    const step = i === 0 ? Infinity : Math.abs(chars[i]!.codePointAt(0)! - chars[i - 1]!.codePointAt(0)!);
    if (step > 1) {
      fresh++;
    }
  }
  return bitsPerChar * fresh;
}

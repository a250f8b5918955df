import { describe, expect, it } from "vitest";
import { randomId, randomPooled } from "../../src/server/random-pool.js";

describe("random pool", () => {
  it("hands out every byte once, across many refills: ids never repeat and have the asked length", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = randomId(32);
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      ids.add(id);
      const iv = randomPooled(12);
      expect(iv.length).toBe(12);
      ids.add(iv.toString("hex"));
    }
    expect(ids.size).toBe(10_000);
  });

  it("returns copies: a caller changing its bytes changes nothing handed out later", () => {
    const a = randomPooled(16);
    a.fill(0);
    const b = randomPooled(16);
    expect(b.equals(Buffer.alloc(16))).toBe(false);
  });
});

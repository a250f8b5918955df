import { describe, expect, it } from "vitest";
import { createTokenSource } from "../../src/client/token-source.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

describe("token source: short tokens with default margins", () => {
  it.each([2_000, 4_000, 20_000])("%i ms tokens, a call every lifetime/20 for 30 lifetimes: one refresh per 0.75 lifetime, never per call", async (lifetime) => {
    const clock = createManualClock();
    let refreshes = 0;
    const issue = (): StoredToken => ({ accessToken: `T${refreshes}`, refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + lifetime });
    const source = createTokenSource({
      clock,
      random: () => 0,
      initial: issue(),
      refresh: async () => {
        refreshes++;
        return issue();
      },
    });
    for (let i = 0; i < 30 * 20; i++) {
      await source.getToken();
      await flush();
      clock.advance(lifetime / 20);
    }
    // 30 lifetimes / (0.75 lifetime per token) = 40.
    expect(refreshes).toBeGreaterThanOrEqual(39);
    expect(refreshes).toBeLessThanOrEqual(41);
  });

  it("autoRefresh with 20 s tokens refreshes once per 15 s, not in a loop", async () => {
    const clock = createManualClock();
    let refreshes = 0;
    const issue = (): StoredToken => ({ accessToken: `T${refreshes}`, refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + 20_000 });
    const source = createTokenSource({
      clock,
      random: () => 0,
      autoRefresh: { visibility: false },
      initial: issue(),
      refresh: async () => {
        refreshes++;
        return issue();
      },
    });
    for (let i = 0; i < 60; i++) {
      clock.advance(500);
      await flush();
    }
    expect(refreshes).toBe(2);
    source.close();
  });
});

import { describe, expect, it } from "vitest";
import { decodeClaims } from "../helpers/token-server-fixture.js";
import { until } from "../helpers/manual-clock.js";
import { createClientFixture } from "./client-fixture.js";

describe("a real token server, default client options: one refresh per token, never per call", () => {
  it.each([
    ["2 s", 2n],
    ["5 s", 5n],
    ["20 s", 20n],
    ["1 h", 3600n],
  ])("access TTL %s: 30 lifetimes of calls every tenth of a lifetime", async (_name, ttl) => {
    const f = await createClientFixture({ accessTtl: ttl, source: { random: Math.random } });
    // A refresh RPC is in flight until its outcome event arrives.
    const busy = () => f.refreshCalls() > f.events.filter((e) => e.type === "refresh").length;
    const lifetimeMs = Number(ttl) * 1000;
    const start = f.server.clock.now();
    let failures = 0;
    let calls = 0;
    const lifetimes: number[] = [];
    while (f.server.clock.now() - start < 30 * lifetimeMs) {
      f.server.clock.advance(lifetimeMs / 10);
      calls++;
      await f.heartbeat.heartbeat({ instanceId: "i" }).catch(() => failures++);
      // Let a background refresh finish its in-process I/O before time moves on.
      await until(() => !f.events.some((e) => e.type === "refresh_retry") && !busy());
      const t = f.source.current()!;
      if (lifetimes.at(-1) !== t.expiresAt - t.receivedAt) lifetimes.push(t.expiresAt - t.receivedAt);
      // Never sent past exp: the client's expiry is at or before the token's own.
      expect(t.expiresAt).toBeLessThanOrEqual((decodeClaims(t.accessToken).exp as number) * 1000);
    }
    const refreshes = f.refreshCalls();
    // Each pair is refreshed once, by the first call at or after its refresh point — with a quarter
    // of its lifetime left, less up to 5 % jitter: 0.70–0.75 of the lifetime, so the call at 0.7 or
    // 0.8 of it. Every pair lives its whole TTL on the client: the server's whole-second claims
    // never cut it short, and the client never goes past exp.
    const mean = lifetimes.reduce((a, b) => a + b, 0) / lifetimes.length;
    const [low, high] = [(30 * lifetimeMs) / (0.8 * mean + lifetimeMs / 10), (30 * lifetimeMs) / (0.7 * mean - lifetimeMs / 10)];
    console.log(`TTL ${ttl} s: ${refreshes} refresh RPCs for ${calls} calls over 30 lifetimes (mean client lifetime ${Math.round(mean)} ms, one refresh per pair: ${low.toFixed(1)}–${high.toFixed(1)})`);
    expect(failures).toBe(0);
    expect(new Set(lifetimes)).toEqual(new Set([lifetimeMs]));
    expect(refreshes).toBeGreaterThanOrEqual(Math.floor(low) - 1);
    expect(refreshes).toBeLessThanOrEqual(Math.ceil(high) + 1);
    expect(refreshes).toBeLessThan(calls / 2);
    await f.server.close();
  });
});

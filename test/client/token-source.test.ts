import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError, authErrorReason } from "../../src/auth-error.js";
import { createTokenSource, isSessionExpired } from "../../src/client/token-source.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createManualClock, until } from "../helpers/manual-clock.js";
import { createClientFixture } from "./client-fixture.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../../src/client/token-service-refresher.js";
import { createTokenServerFixture } from "../helpers/token-server-fixture.js";

const HOUR = 3_600_000;
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

describe("token source: proactive refresh at the boundary", () => {
  it("no refresh at the refresh point − 1 ms; exactly one at it; the current token is served meanwhile", async () => {
    const f = await createClientFixture();
    const t0 = f.source.current()!;
    const point = t0.receivedAt + 45 * 60_000;
    f.server.clock.set(point - 1);
    expect(await f.source.getToken()).toBe(t0.accessToken);
    await flush();
    expect(f.refreshCalls()).toBe(0);
    f.server.clock.set(point);
    // Served at once, while one background refresh runs.
    expect(await f.source.getToken()).toBe(t0.accessToken);
    expect(await f.source.getToken()).toBe(t0.accessToken);
    await until(() => f.events.length > 0);
    expect(f.refreshCalls()).toBe(1);
    expect(f.source.current()!.accessToken).not.toBe(t0.accessToken);
    expect(f.events.filter((e) => e.type === "refresh")).toMatchObject([{ cause: "proactive", outcome: "success" }]);
  });

  it("a 1 h token refreshes with 15 min left minus at most 60 s of jitter", async () => {
    const f = await createClientFixture({ source: { random: () => 0.999 } });
    const t0 = f.source.current()!;
    f.server.clock.set(t0.receivedAt + 45 * 60_000 - 60_001);
    await f.source.getToken();
    await flush();
    expect(f.refreshCalls()).toBe(0);
    f.server.clock.set(t0.receivedAt + 45 * 60_000 - 59_000);
    await f.source.getToken();
    await flush();
    expect(f.refreshCalls()).toBe(1);
  });

  it.each([
    ["10 minutes ahead", 600_000],
    ["10 minutes behind", -600_000],
  ])("a real token server whose clock is %s changes nothing: the refresh point is local", async (_name, skewMs) => {
    const clientClock = createManualClock();
    // The server's clock is the client's plus the skew; it moves with it.
    const serverClock = {
      now: () => clientClock.now() + skewMs,
      setTimeout: clientClock.setTimeout,
      clearTimeout: clientClock.clearTimeout,
      set: (ms: number) => clientClock.set(ms - skewMs),
      advance: clientClock.advance,
      jump: clientClock.jump,
      get timers() {
        return clientClock.timers;
      },
    };
    const server = await createTokenServerFixture({ clock: serverClock });
    const pair = (await server.issue({ subject: "a", accessTokenTtlSeconds: 3600n })).tokenPair!;
    let refreshes = 0;
    const refresh = createTokenServiceRefresher(server.transport, { clock: clientClock });
    const source = createTokenSource({
      clock: clientClock,
      random: () => 0,
      initial: tokenPairToStoredToken(pair, clientClock.now()),
      refresh: async (c, ctx) => {
        refreshes++;
        return refresh(c, ctx);
      },
    });
    const start = clientClock.now();
    expect(source.current()!.expiresAt - start).toBe(HOUR);
    clientClock.set(start + 45 * 60_000 - 1);
    await source.getToken();
    expect(refreshes).toBe(0);
    clientClock.set(start + 45 * 60_000);
    await source.getToken();
    await until(() => source.current()!.accessToken !== pair.accessToken);
    expect(refreshes).toBe(1);
    expect(source.current()!.expiresAt).toBe(start + 45 * 60_000 + HOUR);
    await server.close();
  });
});

describe("token source: single flight", () => {
  it("50 concurrent cold-start calls → 1 refresh RPC, all get the same token", async () => {
    const f = await createClientFixture({ cold: true });
    const tokens = await Promise.all(Array.from({ length: 50 }, () => f.source.getToken()));
    expect(f.refreshCalls()).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe("");
  });

  it("a waiter that aborts is rejected at once while the shared refresh completes for the others", async () => {
    let release!: (t: StoredToken) => void;
    const clock = createManualClock();
    let calls = 0;
    const source = createTokenSource({
      clock,
      initial: { accessToken: "", refreshToken: "r", receivedAt: 0, expiresAt: 0 },
      refresh: (_c, ctx) => {
        calls++;
        expect(ctx.signal.aborted).toBe(false);
        return new Promise((r) => (release = r));
      },
    });
    const ac = new AbortController();
    const aborted = source.getToken({ signal: ac.signal });
    const patient = source.getToken();
    ac.abort(new Error("caller gave up"));
    await expect(aborted).rejects.toMatchObject({ code: Code.Canceled });
    release({ accessToken: "T2", refreshToken: "r2", receivedAt: clock.now(), expiresAt: clock.now() + HOUR });
    expect(await patient).toBe("T2");
    expect(calls).toBe(1);
  });

  it("the shared refresh has its own timeout, not a caller's", async () => {
    const clock = createManualClock();
    let signal!: AbortSignal;
    const source = createTokenSource({
      clock,
      refreshTimeoutMs: 5000,
      initial: { accessToken: "", refreshToken: "r", receivedAt: 0, expiresAt: 0 },
      refresh: (_c, ctx) => {
        signal = ctx.signal;
        return new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      },
    });
    const p = source.getToken();
    await flush();
    clock.advance(4999);
    expect(signal.aborted).toBe(false);
    clock.advance(1);
    expect(signal.aborted).toBe(true);
    await expect(p).rejects.toMatchObject({ code: Code.DeadlineExceeded });
  });

  it("a refresh started for an older generation never overwrites a newer token", async () => {
    const clock = createManualClock();
    let release!: (t: StoredToken) => void;
    const source = createTokenSource({
      clock,
      initial: { accessToken: "", refreshToken: "r", receivedAt: 0, expiresAt: 0 },
      refresh: () => new Promise((r) => (release = r)),
    });
    const p = source.getToken();
    await flush();
    await source.setToken({ accessToken: "LOGIN", refreshToken: "r9", receivedAt: clock.now(), expiresAt: clock.now() + HOUR });
    release({ accessToken: "STALE", refreshToken: "r1", receivedAt: clock.now(), expiresAt: clock.now() + HOUR });
    await p;
    expect(source.current()!.accessToken).toBe("LOGIN");
    expect(await source.getToken()).toBe("LOGIN");
  });
});

describe("token source: failure policy", () => {
  it("a refresh rejected as REUSED → typed session-expired error, exactly one event, no further refresh attempts", async () => {
    const f = await createClientFixture({ cold: true });
    f.fault.refresh = () => authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "reused");
    const errors = await Promise.allSettled(Array.from({ length: 5 }, () => f.source.getToken()));
    for (const e of errors) {
      expect(e.status).toBe("rejected");
      const err = (e as PromiseRejectedResult).reason;
      expect(isSessionExpired(err)).toBe(true);
      expect(authErrorReason(err)).toBe(AuthErrorReason.REFRESH_TOKEN_REUSED);
    }
    for (let i = 0; i < 20; i++) {
      f.server.clock.advance(60_000);
      await expect(f.source.getToken()).rejects.toSatisfy(isSessionExpired);
      await expect(f.source.getToken({ forceRefresh: true })).rejects.toSatisfy(isSessionExpired);
    }
    expect(f.refreshCalls()).toBe(1);
    expect(f.events.filter((e) => e.type === "session_expired")).toHaveLength(1);
    expect(f.source.state).toBe("session_expired");
  });

  it("token server down for 10 minutes while the token is valid → every call succeeds; backoff is visible", async () => {
    const f = await createClientFixture();
    const t0 = f.source.current()!;
    f.fault.refresh = () => new ConnectError("token server down", Code.Unavailable);
    f.server.clock.set(t0.receivedAt + 45 * 60_000);
    let failures = 0;
    for (let s = 0; s < 600; s += 5) {
      f.server.clock.advance(5000);
      await flush();
      await f.heartbeat.heartbeat({ instanceId: "i" }).catch(() => failures++);
    }
    expect(failures).toBe(0);
    const retries = f.events.filter((e) => e.type === "refresh_retry") as { delayMs: number; attempt: number }[];
    expect(retries.length).toBeGreaterThanOrEqual(5);
    expect(retries.length).toBeLessThan(40);
    // Capped exponential: the delays grow, then stay at most 60 s.
    expect(retries[3]!.delayMs).toBeGreaterThan(retries[0]!.delayMs);
    expect(Math.max(...retries.map((r) => r.delayMs))).toBeLessThanOrEqual(60_000);
    f.fault.refresh = undefined;
    // Move to the pending retry only (a bigger jump would also fire that retry's own timeout before its I/O completes).
    f.server.clock.advance(retries.at(-1)!.delayMs);
    await until(() => f.events.at(-1)?.type === "refresh" && (f.events.at(-1) as { outcome: string }).outcome === "success");
    expect(f.source.current()!.accessToken).not.toBe(t0.accessToken);
    expect(f.events.at(-1)).toMatchObject({ type: "refresh", outcome: "success" });
  });

  it("once the token is no longer usable and the server is down, callers fail fast instead of hanging", async () => {
    const f = await createClientFixture();
    const t0 = f.source.current()!;
    f.fault.refresh = () => new ConnectError("token server down", Code.Unavailable);
    f.server.clock.set(t0.expiresAt - 5000);
    await expect(f.source.getToken()).rejects.toMatchObject({ code: Code.Unavailable });
    const before = f.refreshCalls();
    await expect(f.source.getToken()).rejects.toMatchObject({ code: Code.Unavailable });
    expect(f.refreshCalls()).toBe(before); // inside the backoff window: no new RPC
  });

  it("close() aborts the in-flight refresh and fails later calls with Canceled", async () => {
    const clock = createManualClock();
    let signal!: AbortSignal;
    const source = createTokenSource({
      clock,
      initial: { accessToken: "", refreshToken: "r", receivedAt: 0, expiresAt: 0 },
      refresh: (_c, ctx) => {
        signal = ctx.signal;
        return new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
      },
    });
    const p = source.getToken();
    await flush();
    source.close();
    expect(signal.aborted).toBe(true);
    await expect(p).rejects.toMatchObject({ code: Code.Canceled });
    await expect(source.getToken()).rejects.toMatchObject({ code: Code.Canceled });
    expect(clock.timers).toBe(0);
  });

  it("validates options at construction", () => {
    expect(() => createTokenSource({} as never)).toThrow(/refresh/);
    expect(() => createTokenSource({ refresh: async () => ({}) as never, refreshTimeoutMs: 0 })).toThrow(/refreshTimeoutMs/);
  });
});

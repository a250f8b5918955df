import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { startHeartbeats, type HeartbeatEvent } from "../../src/client/heartbeats.js";
import { createManualClock, until } from "../helpers/manual-clock.js";
import { createSessionFixture, type SessionFixture } from "../helpers/session-fixture.js";

let fx: SessionFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const beatsAt = (f: SessionFixture) => f.calls.filter((c) => c.method === "Heartbeat").map((c) => c.at - f.calls[0]!.at);

describe("startHeartbeats against the real HeartbeatService", () => {
  it("beats at once, then exactly at the interval the server returns", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 7 });
    const f = fx;
    const events: HeartbeatEvent[] = [];
    const beats = startHeartbeats(f.heartbeat, { instanceId: "i-1", clock: f.clock, onEvent: (e) => events.push(e) });
    await until(() => beats.beats === 1);
    expect(beats.intervalMs).toBe(7000);
    f.clock.advance(6999);
    await until(() => f.clock.timers > 0 && beats.beats === 1);
    expect(beatsAt(f)).toEqual([0]);
    f.clock.advance(1);
    await until(() => beats.beats === 2);
    f.clock.advance(7000);
    await until(() => beats.beats === 3);
    expect(beatsAt(f)).toEqual([0, 7000, 14_000]);
    // The server recorded them against the session and instance.
    const last = await f.eventStore.lastHeartbeat(f.pair.sessionId, "i-1");
    expect(last?.count).toBe(3);
    // The server's clock is the manual clock: no skew.
    expect(events.find((e) => e.type === "beat")).toMatchObject({ type: "beat", intervalMs: 7000, skewMs: 0 });
    expect(await beats.stop()).toEqual({ reason: "stopped", beats: 3, failures: 0 });
  });

  it("clamps the server interval to [minIntervalMs, maxIntervalMs]", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 1 });
    const f = fx;
    const beats = startHeartbeats(f.heartbeat, { clock: f.clock, minIntervalMs: 5000 });
    await until(() => beats.beats === 1);
    expect(beats.intervalMs).toBe(5000);
    f.clock.advance(4999);
    await until(() => f.clock.timers > 0);
    expect(beats.beats).toBe(1);
    await beats.stop();
  });

  it("backs off on Unavailable (capped exponential), then returns to the server interval", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 30 });
    const f = fx;
    let failing = 3;
    f.fault.before = (c) => (c.method === "Heartbeat" && failing-- > 0 ? new ConnectError("store down", Code.Unavailable) : undefined);
    const events: HeartbeatEvent[] = [];
    // random = 0: "equal jitter" gives exactly half of each capped delay.
    const beats = startHeartbeats(f.heartbeat, { clock: f.clock, random: () => 0, backoff: { initialMs: 2000, maxMs: 60_000 }, onEvent: (e) => events.push(e) });
    const retries = () => events.filter((e) => e.type === "retry");
    await until(() => retries().length === 1);
    for (const [delay, n] of [
      [1000, 2],
      [2000, 3],
    ] as const) {
      f.clock.advance(delay);
      await until(() => retries().length === n);
    }
    f.clock.advance(4000);
    await until(() => beats.beats === 1);
    expect(retries().map((e) => (e.type === "retry" ? [e.attempt, e.delayMs, Code[e.error.code]] : []))).toEqual([
      [1, 1000, "Unavailable"],
      [2, 2000, "Unavailable"],
      [3, 4000, "Unavailable"],
    ]);
    expect(beatsAt(f)).toEqual([0, 1000, 3000, 7000]);
    expect(beats.failures).toBe(3);
    // Success resets the backoff: the next beat follows the server interval.
    f.clock.advance(30_000);
    await until(() => beats.beats === 2);
    expect(beatsAt(f).at(-1)).toBe(37_000);
    await beats.stop();
  });

  it("never backs off longer than the interval", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 5 });
    const f = fx;
    let fail = false;
    f.fault.before = (c) => (c.method === "Heartbeat" && fail ? new ConnectError("down", Code.Unavailable) : undefined);
    const events: HeartbeatEvent[] = [];
    const beats = startHeartbeats(f.heartbeat, { clock: f.clock, random: () => 0.99, backoff: { initialMs: 60_000 }, onEvent: (e) => events.push(e) });
    await until(() => beats.beats === 1);
    fail = true;
    f.clock.advance(5000);
    await until(() => events.some((e) => e.type === "retry"));
    expect(events.find((e) => e.type === "retry")).toMatchObject({ delayMs: 5000 });
    await beats.stop();
  });

  it("ten beats across five 60 s token lifetimes: no failure, the tokens are refreshed underneath", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 30, accessTtlSeconds: 60 });
    const f = fx;
    const beats = startHeartbeats(f.heartbeat, { clock: f.clock });
    await until(() => beats.beats === 1);
    for (let i = 2; i <= 10; i++) {
      await f.settle();
      f.clock.advance(30_000);
      await until(() => beats.beats === i);
    }
    expect(beats.failures).toBe(0);
    expect(f.refreshes()).toBeGreaterThanOrEqual(4);
    await beats.stop();
  });

  it("stops on abort: the call in flight is cancelled, no timer is left, done resolves", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 10 });
    const f = fx;
    const ac = new AbortController();
    const beats = startHeartbeats(f.heartbeat, { clock: f.clock, signal: ac.signal });
    await until(() => beats.beats === 1);
    const before = f.calls.length;
    ac.abort();
    expect(await beats.done).toEqual({ reason: "stopped", beats: 1, failures: 0 });
    f.clock.advance(3_600_000);
    await until(() => true);
    expect(f.calls.length).toBe(before);
    // stop() after the end is harmless and says the same.
    expect(await beats.stop()).toEqual({ reason: "stopped", beats: 1, failures: 0 });
  });

  it("stop() during a hung call ends at once; a hung call otherwise times out on the clock", async () => {
    const clock = createManualClock();
    let calls = 0;
    const transport = createRouterTransport((router) =>
      router.service(HeartbeatService, {
        heartbeat: (_req, ctx) => {
          calls++;
          return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        },
      }),
    );
    const events: HeartbeatEvent[] = [];
    const beats = startHeartbeats(createClient(HeartbeatService, transport), { clock, timeoutMs: 3000, random: () => 0, onEvent: (e) => events.push(e) });
    await until(() => calls === 1);
    clock.advance(3000);
    await until(() => events.length === 1);
    expect(events[0]).toMatchObject({ type: "retry", attempt: 1, error: { code: Code.DeadlineExceeded } });
    clock.advance(500);
    await until(() => calls === 2);
    expect(await beats.stop()).toMatchObject({ reason: "stopped", failures: 1 });
    expect(clock.timers).toBe(0);
  });

  it("stops with session_expired when the session is revoked (no retry loop)", async () => {
    fx = await createSessionFixture({ heartbeatIntervalSeconds: 30 });
    const f = fx;
    const events: HeartbeatEvent[] = [];
    const beats = startHeartbeats(f.heartbeat, { clock: f.clock, onEvent: (e) => events.push(e) });
    await until(() => beats.beats === 1);
    await f.tokens.revokeToken({ token: f.pair.refreshToken });
    f.clock.advance(30_000);
    const result = await beats.done;
    expect(result.reason).toBe("session_expired");
    expect(result.error?.code).toBe(Code.Unauthenticated);
    expect(events.at(-1)).toMatchObject({ type: "stopped", reason: "session_expired" });
    expect(events.some((e) => e.type === "retry")).toBe(false);
    expect(f.source.state).toBe("session_expired");
  });

  it("stops with failed on PermissionDenied (a token without heartbeat:write)", async () => {
    fx = await createSessionFixture({ scopes: ["events:read"] });
    const beats = startHeartbeats(fx.heartbeat, { clock: fx.clock });
    const result = await beats.done;
    expect(result).toMatchObject({ reason: "failed", beats: 0, failures: 1, error: { code: Code.PermissionDenied } });
  });

  it("validates options when it starts", () => {
    const client = createClient(HeartbeatService, createRouterTransport(() => {}));
    expect(() => startHeartbeats({} as never)).toThrow(/HeartbeatService client/);
    expect(() => startHeartbeats(client, { minIntervalMs: 0 })).toThrow(/"minIntervalMs"/);
    expect(() => startHeartbeats(client, { minIntervalMs: 10_000, maxIntervalMs: 5000 })).toThrow(/"maxIntervalMs"/);
    expect(() => startHeartbeats(client, { timeoutMs: Number.NaN })).toThrow(/"timeoutMs"/);
    expect(() => startHeartbeats(client, { backoff: { initialMs: -1 } })).toThrow(/"backoff.initialMs"/);
    expect(() => startHeartbeats(client, { attributes: { a: 1 as never } })).toThrow(/"attributes"/);
    expect(() => startHeartbeats(client, { signal: {} as never })).toThrow(/"signal"/);
    expect(() => startHeartbeats(client, { clock: {} as never })).toThrow(/"clock"/);
  });
});

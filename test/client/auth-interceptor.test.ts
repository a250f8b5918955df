import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatRequestSchema } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { authError } from "../../src/auth-error.js";
import { skipAuthKey } from "../../src/client/skip-auth.js";
import { createClientFixture } from "./client-fixture.js";

const expired = () => authError(AuthErrorReason.TOKEN_EXPIRED, "access token expired");

describe("client auth interceptor: reactive refresh", () => {
  it("20 concurrent calls failing with T1 → 1 refresh, each retried once with T2; a late failure for T1 refreshes nothing", async () => {
    const f = await createClientFixture();
    const t1 = f.source.current()!.accessToken;
    f.fault.heartbeat = (token) => (token === t1 ? expired() : undefined);
    await Promise.all(Array.from({ length: 20 }, () => f.heartbeat.heartbeat({ instanceId: "x" })));
    expect(f.refreshCalls()).toBe(1);
    const t2 = f.source.current()!.accessToken;
    expect(t2).not.toBe(t1);
    expect(f.seenTokens.filter((t) => t === t1)).toHaveLength(20);
    expect(f.seenTokens.filter((t) => t === t2)).toHaveLength(20);
    expect(await f.source.getToken({ forceRefresh: true, failedToken: t1 })).toBe(t2);
    expect(f.refreshCalls()).toBe(1);
  });

  it("the retry sends the byte-identical request message (no empty body on retry)", async () => {
    const f = await createClientFixture();
    const t1 = f.source.current()!.accessToken;
    f.fault.heartbeat = (token) => (token === t1 ? expired() : undefined);
    const msg = create(HeartbeatRequestSchema, { instanceId: "agent-7", attributes: { a: "1", b: "2", host: "x".repeat(300) } });
    await f.heartbeat.heartbeat(msg);
    expect(f.bodies).toHaveLength(2);
    expect(f.bodies[0]!.length).toBeGreaterThan(300);
    expect(Buffer.from(f.bodies[1]!).equals(Buffer.from(f.bodies[0]!))).toBe(true);
    expect(Buffer.from(f.bodies[0]!).equals(Buffer.from(toBinary(HeartbeatRequestSchema, msg)))).toBe(true);
  });

  it("a server that always answers Unauthenticated → exactly one retry per call and bounded refreshes overall", async () => {
    const f = await createClientFixture();
    f.fault.heartbeat = () => expired();
    const calls = 60;
    for (let i = 0; i < calls; i++) {
      f.server.clock.advance(1000);
      await expect(f.heartbeat.heartbeat({ instanceId: "x" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    }
    expect(f.seenTokens).toHaveLength(calls * 2);
    // minForcedRefreshIntervalMs (10 s) bounds forced refreshes: 60 s of calls → at most 7.
    expect(f.refreshCalls()).toBeGreaterThanOrEqual(1);
    expect(f.refreshCalls()).toBeLessThanOrEqual(7);
  });

  it("a call with the skipAuth context value carries no token and is not retried", async () => {
    const f = await createClientFixture();
    await expect(
      f.heartbeat.heartbeat({}, { contextValues: createContextValues().set(skipAuthKey, true) }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(f.seenTokens).toEqual([""]);
    expect(f.refreshCalls()).toBe(0);
  });

  it("other errors are not retried", async () => {
    const f = await createClientFixture();
    f.fault.heartbeat = () => new ConnectError("nope", Code.PermissionDenied);
    await expect(f.heartbeat.heartbeat({})).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(f.seenTokens).toHaveLength(1);
    expect(f.refreshCalls()).toBe(0);
  });
});

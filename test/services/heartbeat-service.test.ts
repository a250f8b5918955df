import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createHeartbeatService } from "../../src/server/services/heartbeat-service.js";
import { defineTokenkitService } from "../../src/server/serve/service-registration.js";
import { createMemoryEventStore } from "../../src/server/store/memory-event-store.js";
import { expectConnectError } from "../helpers/expect-error.js";
import { ALL_SCOPES, startSessionServer, type SessionServer } from "./session-server.js";

let s: SessionServer | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe("HeartbeatService", () => {
  it("records the last heartbeat per session and instance and answers with server time and the interval", async () => {
    s = await startSessionServer({ sessionServices: { heartbeatIntervalSeconds: 45 } });
    const pair = await s.issue("agent-1", ALL_SCOPES);
    const hb = s.heartbeat(pair.accessToken);
    const first = await hb.heartbeat({ instanceId: "host-a", attributes: { version: "1.2.3" } });
    expect(timestampMs(first.serverTime!)).toBe(s.clock.now());
    expect(first.interval).toMatchObject({ seconds: 45n, nanos: 0 });
    s.clock.advance(45_000);
    await hb.heartbeat({ instanceId: "host-a", attributes: { version: "1.2.4" } });
    await hb.heartbeat({ instanceId: "host-b" });
    const a = await s.eventStore.lastHeartbeat(pair.sessionId, "host-a");
    expect(a).toMatchObject({ subject: "agent-1", attributes: { version: "1.2.4" }, receivedAt: s.clock.now(), count: 2 });
    expect((await s.eventStore.lastHeartbeat(pair.sessionId, "host-b"))?.count).toBe(1);
  });

  it("suggests 30 s by default", async () => {
    s = await startSessionServer();
    const pair = await s.issue("agent-1", ["heartbeat:write"]);
    expect((await s.heartbeat(pair.accessToken).heartbeat({})).interval?.seconds).toBe(30n);
  });

  it("needs a valid bearer token with scope heartbeat:write", async () => {
    s = await startSessionServer();
    await expectConnectError(s.heartbeat("").heartbeat({}), Code.Unauthenticated, AuthErrorReason.TOKEN_MISSING);
    const noScope = await s.issue("agent-1", ["events:write"]);
    await expectConnectError(s.heartbeat(noScope.accessToken).heartbeat({}), Code.PermissionDenied, AuthErrorReason.INSUFFICIENT_SCOPE);
    const pair = await s.issue("agent-1", ["heartbeat:write"], 60);
    s.clock.advance(121_000); // past expiry and the 60 s tolerance
    await expectConnectError(s.heartbeat(pair.accessToken).heartbeat({}), Code.Unauthenticated, AuthErrorReason.TOKEN_EXPIRED, [pair.accessToken]);
  });

  it("rejects oversized instance ids and attributes by name", async () => {
    s = await startSessionServer();
    const hb = s.heartbeat((await s.issue("agent-1", ["heartbeat:write"])).accessToken);
    expect((await expectConnectError(hb.heartbeat({ instanceId: "x".repeat(257) }), Code.InvalidArgument)).message).toMatch(/instance_id/);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    expect((await expectConnectError(hb.heartbeat({ attributes: many }), Code.InvalidArgument)).message).toMatch(/attributes has 65 entries/);
    expect((await expectConnectError(hb.heartbeat({ attributes: { big: "v".repeat(1025) } }), Code.InvalidArgument)).message).toMatch(/attributes entry "big"/);
  });

  it("is off with sessionServices: false, and a service of the same name replaces it", async () => {
    s = await startSessionServer({ sessionServices: false });
    const pair = await s.issue("agent-1", ALL_SCOPES);
    await expectConnectError(s.heartbeat(pair.accessToken).heartbeat({}), Code.Unimplemented);
    await s.close();
    s = await startSessionServer({ services: [defineTokenkitService(HeartbeatService, { heartbeat: () => ({ interval: { seconds: 7n, nanos: 0 } }) })] });
    expect((await s.heartbeat("").heartbeat({})).interval?.seconds).toBe(7n);
  });

  it("validates its options and fails closed without the auth interceptor", async () => {
    expect(() => createHeartbeatService({ store: undefined as never })).toThrow(/option "store"/);
    expect(() => createHeartbeatService({ store: createMemoryEventStore(), intervalSeconds: 0 })).toThrow(/option "intervalSeconds"/);
    const impl = createHeartbeatService({ store: createMemoryEventStore() });
    const ctx = { values: { get: () => undefined } } as never;
    await expectConnectError(
      Promise.resolve().then(() => impl.heartbeat({ $typeName: "tokenkit.v1.HeartbeatRequest", instanceId: "", attributes: {} }, ctx)),
      Code.Unauthenticated,
      AuthErrorReason.TOKEN_MISSING,
    );
    expect(HeartbeatService.typeName).toBe("tokenkit.v1.HeartbeatService");
  });
});

import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createTokenSource, type RefreshFunction } from "../../src/client/token-source.js";
import type { TokenSourceEvent } from "../../src/client/token-events.js";
import type { StoredToken } from "../../src/client/token-store.js";
import { createManualClock } from "../helpers/manual-clock.js";

const HOUR = 3_600_000;
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
};

function setup(fail: () => unknown, initial?: Partial<StoredToken>) {
  const clock = createManualClock();
  const events: TokenSourceEvent[] = [];
  let calls = 0;
  const refresh: RefreshFunction = async () => {
    calls++;
    throw fail();
  };
  const source = createTokenSource({
    clock,
    random: () => 0,
    refresh,
    onEvent: (e) => events.push(e),
    // Past its refresh point, still usable for 10 minutes.
    initial: { accessToken: "A", refreshToken: "R", receivedAt: clock.now() - HOUR, expiresAt: clock.now() + 10 * 60_000, ...initial },
  });
  return { clock, events, source, calls: () => calls };
}

describe("RefreshFunction failure contract", () => {
  it.each([Code.FailedPrecondition, Code.PermissionDenied, Code.InvalidArgument, Code.Unimplemented, Code.NotFound])(
    "a ConnectError with code %s is a configuration error: terminal, one event, no retry loop, callers get it",
    async (code) => {
      const f = setup(() => new ConnectError("client_id unknown", code));
      f.clock.set(f.clock.now() + 10 * 60_000 - 1000); // the token is no longer usable
      await expect(f.source.getToken()).rejects.toMatchObject({ code });
      for (let i = 0; i < 10; i++) {
        f.clock.advance(60_000);
        await flush();
        await expect(f.source.getToken()).rejects.toMatchObject({ code });
        await expect(f.source.getToken({ forceRefresh: true })).rejects.toMatchObject({ code });
      }
      expect(f.calls()).toBe(1);
      expect(f.source.state).toBe("failed");
      expect(f.events.filter((e) => e.type === "refresh_failed")).toHaveLength(1);
    },
  );

  it("any failure once the refresh token is known to have expired ends the session", async () => {
    const f = setup(() => new TypeError("fetch failed"), { refreshExpiresAt: Date.UTC(2026, 0, 1) - 1 });
    await f.source.getToken(); // still usable: served, while the background refresh fails
    await flush();
    expect(f.source.state).toBe("session_expired");
    expect(f.events.filter((e) => e.type === "session_expired")).toHaveLength(1);
    f.clock.advance(10 * 60_000);
    await expect(f.source.getToken()).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(f.calls()).toBe(1);
  });

  it("a plain Error is transient: the still-valid token is served and retried with backoff", async () => {
    const f = setup(() => new TypeError("fetch failed"));
    expect(await f.source.getToken()).toBe("A");
    await flush();
    expect(f.source.state).toBe("active");
    expect(f.events.filter((e) => e.type === "refresh_retry")).toHaveLength(1);
  });

  it("a transient error with retry-after waits that long instead of the backoff step", async () => {
    const f = setup(() => new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "20" }));
    await f.source.getToken();
    await flush();
    const retry = f.events.find((e) => e.type === "refresh_retry") as { delayMs: number };
    expect(retry.delayMs).toBe(20_000);
    f.clock.advance(19_999);
    await flush();
    expect(f.calls()).toBe(1);
    f.clock.advance(1);
    await flush();
    expect(f.calls()).toBe(2);
  });
});

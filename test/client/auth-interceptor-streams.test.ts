import { create } from "@bufbuild/protobuf";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { EventService, EventSchema } from "../../gen/tokenkit/v1/event_service_pb.js";
import { authError } from "../../src/auth-error.js";
import { createAuthInterceptor } from "../../src/client/auth-interceptor.js";
import { createTokenSource } from "../../src/client/token-source.js";
import { createManualClock } from "../helpers/manual-clock.js";

const HOUR = 3_600_000;

/** A router whose EventService accepts only tokens in `valid`, with a token source minting T1, T2, … */
function setup() {
  const clock = createManualClock();
  let n = 1;
  let refreshes = 0;
  const valid = new Set<string>();
  const seen: { method: string; token: string; after?: bigint }[] = [];
  const source = createTokenSource({
    clock,
    initial: { accessToken: "T1", refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + HOUR },
    refresh: async () => {
      refreshes++;
      const t = `T${++n}`;
      valid.add(t);
      return { accessToken: t, refreshToken: "r", receivedAt: clock.now(), expiresAt: clock.now() + HOUR };
    },
  });
  const check = (method: string, header: Headers, after?: bigint) => {
    const token = (header.get("authorization") ?? "").replace("Bearer ", "");
    seen.push({ method, token, after });
    if (!valid.has(token)) throw authError(AuthErrorReason.TOKEN_EXPIRED, "expired");
  };
  let failAfterFirst = false;
  const transport = createRouterTransport(
    (router) =>
      router.service(EventService, {
        async *watchEvents(req, ctx) {
          check("watch", ctx.requestHeader, req.afterSequence);
          yield { sequence: req.afterSequence + 1n, event: create(EventSchema, { id: "e1", type: "t" }) };
          if (failAfterFirst) throw authError(AuthErrorReason.TOKEN_EXPIRED, "expired mid-stream");
          yield { sequence: req.afterSequence + 2n, event: create(EventSchema, { id: "e2", type: "t" }) };
        },
        async streamEvents(reqs, ctx) {
          check("stream", ctx.requestHeader);
          let accepted = 0;
          for await (const _ of reqs) accepted++;
          return { acceptedCount: accepted, duplicateCount: 0 };
        },
      }),
    { transport: { interceptors: [createAuthInterceptor(source, { clock })] } },
  );
  return {
    client: createClient(EventService, transport),
    seen,
    valid,
    refreshes: () => refreshes,
    failAfterFirstMessage: () => (failAfterFirst = true),
  };
}

describe("client auth interceptor: streams", () => {
  it("server-streaming: Unauthenticated before the first message → one refresh and a retry with the same request", async () => {
    const s = setup();
    const got: bigint[] = [];
    for await (const m of s.client.watchEvents({ afterSequence: 41n, types: ["t"] })) got.push(m.sequence);
    expect(got).toEqual([42n, 43n]);
    expect(s.refreshes()).toBe(1);
    expect(s.seen).toEqual([
      { method: "watch", token: "T1", after: 41n },
      { method: "watch", token: "T2", after: 41n },
    ]);
  });

  it("server-streaming: after a message was delivered, no retry", async () => {
    const s = setup();
    s.valid.add("T1");
    s.failAfterFirstMessage();
    const got: bigint[] = [];
    await expect(
      (async () => {
        for await (const m of s.client.watchEvents({ afterSequence: 0n })) got.push(m.sequence);
      })(),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(got).toEqual([1n]);
    expect(s.refreshes()).toBe(0);
    expect(s.seen).toHaveLength(1);
  });

  it("client-streaming calls carry the token but are never replayed", async () => {
    const s = setup();
    async function* events() {
      yield { event: create(EventSchema, { id: "a", type: "t" }) };
      yield { event: create(EventSchema, { id: "b", type: "t" }) };
    }
    await expect(s.client.streamEvents(events())).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(s.seen).toEqual([{ method: "stream", token: "T1", after: undefined }]);
    expect(s.refreshes()).toBe(0);
  });
});

import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { StructSchema, type Struct } from "@bufbuild/protobuf/wkt";
import { gzipSync } from "node:zlib";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventService, IngestEventsRequestSchema, WatchEventsRequestSchema } from "../../gen/tokenkit/v1/event_service_pb.js";
import { RefreshTokenRequestSchema, TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { HeartbeatRequestSchema, HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { listenDualProtocol } from "../../src/server/serve/dual-protocol-listener.js";
import { createTokenkitHandler } from "../../src/server/serve/tokenkit-handler.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { envelope, outcome, rawRpc, type RawProtocol } from "../helpers/raw-rpc.js";

// A real server on loopback (h2c and HTTP/1.1 on one port), fed hand-built bytes: every way a
// caller can send an undecodable request must end InvalidArgument, never Internal, and the server
// must still answer well-formed requests afterwards.

const ADMIN_KEY = "malformed-input-admin-key-0123456789";
let server: TokenkitServer;
/** A bearer with the event scopes: stream handlers authenticate before they read a message. */
let bearer: Record<string, string>;
beforeAll(async () => {
  server = await createTokenkitServer({ port: 0, store: "memory", adminKey: ADMIN_KEY });
  const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  const r = await tokens.issueToken({ subject: "mallory", scopes: ["events:read", "events:write"] }, { headers: { "x-api-key": ADMIN_KEY } });
  bearer = { authorization: `Bearer ${r.tokenPair!.accessToken}` };
});
afterAll(() => server.close());

const REFRESH = `/${TokenService.typeName}/RefreshToken`;
const INGEST = `/${EventService.typeName}/IngestEvents`;
const STREAM = `/${EventService.typeName}/StreamEvents`;
const WATCH = `/${EventService.typeName}/WatchEvents`;

/** Bytes that are no protobuf message: field 0 is an illegal tag. */
const GARBAGE = new Uint8Array([0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]);

function deepStruct(depth: number): Struct {
  let s = create(StructSchema, {});
  for (let i = 0; i < depth; i++) {
    s = create(StructSchema, { fields: { a: { kind: { case: "structValue", value: s } } } });
  }
  return s;
}
const DEEP = toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events: [{ id: "e1", type: "t", data: deepStruct(150) }] }));
const VALID_REFRESH = toBinary(RefreshTokenRequestSchema, create(RefreshTokenRequestSchema, { refreshToken: "not-a-token" }));

const CONTENT_TYPE: Record<RawProtocol, string> = {
  connect: "application/proto",
  "connect-stream": "application/connect+proto",
  grpc: "application/grpc",
  "grpc-web": "application/grpc-web+proto",
};
const ENCODING_HEADER: Record<RawProtocol, string> = {
  connect: "content-encoding",
  "connect-stream": "connect-content-encoding",
  grpc: "grpc-encoding",
  "grpc-web": "grpc-encoding",
};

interface Case {
  protocol: RawProtocol;
  http: "1.1" | "2";
}
// gRPC needs HTTP/2 trailers; the others run over both.
const CARRIERS: Case[] = [
  { protocol: "connect", http: "1.1" },
  { protocol: "connect", http: "2" },
  { protocol: "grpc", http: "2" },
  { protocol: "grpc-web", http: "1.1" },
  { protocol: "grpc-web", http: "2" },
];
const ENVELOPED = CARRIERS.filter((c) => c.protocol !== "connect");
const label = (c: Case) => `${c.protocol} over ${c.http === "2" ? "h2c" : "HTTP/1.1"}`;

async function call(c: Case, path: string, message: Uint8Array, opts: { flags?: number; headers?: Record<string, string> } = {}) {
  const body = c.protocol === "connect" ? message : envelope(message, opts.flags ?? 0);
  const headers = path === REFRESH ? opts.headers : { ...bearer, ...opts.headers };
  const res = await rawRpc({ baseUrl: server.url, http: c.http, path, contentType: CONTENT_TYPE[c.protocol], headers, body });
  return outcome(c.protocol, res);
}

describe("malformed binary input is InvalidArgument on every protocol", () => {
  it.each(CARRIERS)("garbage to RefreshToken (no auth needed): $protocol over HTTP/$http", async (c) => {
    const r = await call(c, REFRESH, GARBAGE);
    expect(r.code, r.message).toBe("invalid_argument");
    expect(r.message).toMatch(/tokenkit\.v1\.RefreshTokenRequest/);
  });

  it.each(CARRIERS)("a Struct nested 150 deep in IngestEvents: $protocol over HTTP/$http", async (c) => {
    const r = await call(c, INGEST, DEEP);
    expect(r.code, r.message).toBe("invalid_argument");
    expect(r.message).toMatch(/recursion depth/);
  });

  it("the JSON twin of the deep Struct is InvalidArgument too", async () => {
    const json = toJsonString(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events: [{ id: "e1", type: "t", data: deepStruct(150) }] }));
    const res = await rawRpc({ baseUrl: server.url, http: "2", path: INGEST, contentType: "application/json", body: new TextEncoder().encode(json) });
    expect(outcome("connect", res).code).toBe("invalid_argument");
  });

  it.each([...ENVELOPED, { protocol: "connect-stream" as const, http: "1.1" as const }, { protocol: "connect-stream" as const, http: "2" as const }])(
    "garbage in a WatchEvents envelope: $protocol over HTTP/$http",
    async (c) => {
      const r = await call(c, WATCH, GARBAGE);
      expect(r.code, r.message).toBe("invalid_argument");
    },
  );
});

describe("malformed JSON input is InvalidArgument on every protocol", () => {
  const JSON_TYPE: Record<RawProtocol, string> = {
    connect: "application/json",
    "connect-stream": "application/connect+json",
    grpc: "application/grpc+json",
    "grpc-web": "application/grpc-web+json",
  };
  const cases: (Case & { path: string })[] = [
    ...CARRIERS.map((c) => ({ ...c, path: REFRESH })),
    { protocol: "connect-stream", http: "1.1", path: WATCH },
    { protocol: "connect-stream", http: "2", path: WATCH },
  ];
  it.each(cases)("$protocol over HTTP/$http to $path", async (c) => {
    const wrongType = c.path === REFRESH ? '{"refreshToken": 42}' : '{"afterSequence": "soon"}';
    for (const text of ['{"refreshToken": ', wrongType, "[]", "\u0000"]) {
      const message = new TextEncoder().encode(text);
      const body = c.protocol === "connect" ? message : envelope(message);
      const headers = c.path === REFRESH ? undefined : bearer;
      const res = await rawRpc({ baseUrl: server.url, http: c.http, path: c.path, contentType: JSON_TYPE[c.protocol], headers, body });
      const r = outcome(c.protocol, res);
      expect(r.code, `${text}: ${r.message}`).toBe("invalid_argument");
    }
  });
});

describe("compression flags the request did not declare are InvalidArgument", () => {
  const streams: Case[] = [...ENVELOPED, { protocol: "connect-stream", http: "1.1" }, { protocol: "connect-stream", http: "2" }];

  it.each(streams)("compressed flag, no encoding header, to WatchEvents: $protocol over HTTP/$http", async (c) => {
    const msg = toBinary(WatchEventsRequestSchema, create(WatchEventsRequestSchema, {}));
    const r = await call(c, WATCH, msg, { flags: 0x01 });
    expect(r.code, r.message).toBe("invalid_argument");
    expect(r.message).toMatch(/compress/);
  });

  it.each(streams.filter((c) => c.protocol === "connect-stream"))("compressed flag, no encoding header, to StreamEvents: $protocol over HTTP/$http", async (c) => {
    const r = await call(c, STREAM, gzipSync(GARBAGE), { flags: 0x01 });
    expect(r.code, r.message).toBe("invalid_argument");
  });

  it.each(ENVELOPED.filter((c) => c.protocol !== "connect-stream"))("compressed flag, no encoding header, to RefreshToken: $protocol over HTTP/$http", async (c) => {
    const r = await call(c, REFRESH, VALID_REFRESH, { flags: 0x01 });
    expect(r.code, r.message).toBe("invalid_argument");
  });

  it.each(streams)("a truncated gzip message declared as gzip: $protocol over HTTP/$http", async (c) => {
    const gz = gzipSync(VALID_REFRESH);
    const r = await call(c, c.protocol === "connect-stream" ? WATCH : REFRESH, gz.subarray(0, gz.byteLength - 6), {
      flags: 0x01,
      headers: { [ENCODING_HEADER[c.protocol]]: "gzip" },
    });
    expect(r.code, r.message).toBe("invalid_argument");
  });

  it.each(CARRIERS.filter((c) => c.protocol === "connect"))("a truncated gzip unary body: $protocol over HTTP/$http", async (c) => {
    const gz = gzipSync(VALID_REFRESH);
    const r = await call(c, REFRESH, gz.subarray(0, gz.byteLength - 6), { headers: { "content-encoding": "gzip" } });
    expect(r.code, r.message).toBe("invalid_argument");
  });

  it.each(CARRIERS)("garbage gzipped and declared as gzip: $protocol over HTTP/$http", async (c) => {
    const headers = { [ENCODING_HEADER[c.protocol]]: "gzip" };
    const r = await call(c, REFRESH, gzipSync(GARBAGE), { flags: 0x01, headers });
    expect(r.code, r.message).toBe("invalid_argument");
  });
});

describe("well-formed requests keep their own answers", () => {
  it.each(CARRIERS)("a valid RefreshToken with an unknown token is Unauthenticated: $protocol over HTTP/$http", async (c) => {
    const r = await call(c, REFRESH, VALID_REFRESH);
    expect(r.code, r.message).toBe("unauthenticated");
  });

  it.each(CARRIERS)("a valid IngestEvents is accepted: $protocol over HTTP/$http", async (c) => {
    const msg = toBinary(IngestEventsRequestSchema, create(IngestEventsRequestSchema, { events: [{ id: `ok-${c.protocol}-${c.http}`, type: "t" }] }));
    const r = await call(c, INGEST, msg);
    expect(r.code, r.message).toBe("ok");
  });
});

describe("an implementation's own Internal stays Internal", () => {
  it.each(CARRIERS)("$protocol over HTTP/$http", async (c) => {
    const handler = createTokenkitHandler({
      services: [HeartbeatService],
      routes(router) {
        router.service(HeartbeatService, {
          heartbeat() {
            throw new ConnectError("the store broke", Code.Internal);
          },
        });
      },
    });
    const listener = await listenDualProtocol({ handler, port: 0 });
    try {
      const message = toBinary(HeartbeatRequestSchema, create(HeartbeatRequestSchema, { instanceId: "i" }));
      const body = c.protocol === "connect" ? message : envelope(message);
      const res = await rawRpc({ baseUrl: listener.url, http: c.http, path: `/${HeartbeatService.typeName}/Heartbeat`, contentType: CONTENT_TYPE[c.protocol], body });
      expect(outcome(c.protocol, res)).toEqual({ code: "internal", message: "the store broke" });
    } finally {
      await listener.close();
    }
  });
});

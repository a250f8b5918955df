import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { listenDualProtocol, type DualProtocolListener } from "../../src/server/serve/dual-protocol-listener.js";
import { createTokenkitHandler } from "../../src/server/serve/tokenkit-handler.js";

const JWKS = { keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "k1", alg: "EdDSA", use: "sig" }] };

let listener: DualProtocolListener;
let serving = true;

beforeAll(async () => {
  const handler = createTokenkitHandler({
    services: [HeartbeatService],
    routes(router) {
      router.service(HeartbeatService, { heartbeat: (req) => ({ interval: { seconds: BigInt(req.instanceId.length) } }) });
    },
    jwks: () => JWKS,
    serving: () => serving,
  });
  listener = await listenDualProtocol({ handler, port: 0 });
});
afterAll(() => listener.close());

const transports: [string, () => Transport][] = [
  ["Connect over HTTP/1.1", () => createConnectTransport({ baseUrl: listener.url, httpVersion: "1.1" })],
  ["Connect over h2c", () => createConnectTransport({ baseUrl: listener.url, httpVersion: "2" })],
  ["gRPC over h2c", () => createGrpcTransport({ baseUrl: listener.url })],
  ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: listener.url, httpVersion: "1.1" })],
  ["gRPC-Web over h2c", () => createGrpcWebTransport({ baseUrl: listener.url, httpVersion: "2" })],
];

function get(path: string, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${listener.url}${path}`, { method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("createTokenkitHandler", () => {
  it.each(transports)("serves registered services and health checks with %s", async (_, transport) => {
    const t = transport();
    const heartbeat = createClient(HeartbeatService, t);
    expect((await heartbeat.heartbeat({ instanceId: "abc" })).interval?.seconds).toBe(3n);
    const health = createClient(Health, t);
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "tokenkit.v1.HeartbeatService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "grpc.reflection.v1.ServerReflection" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await expect(health.check({ service: "nope.v1.Nope" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("answers NOT_SERVING while the server is not serving, and Unimplemented for Watch", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: listener.url }));
    serving = false;
    try {
      expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.NOT_SERVING);
    } finally {
      serving = true;
    }
    let caught: unknown;
    try {
      for await (const _ of health.watch({ service: "" })) {
        // no messages expected
      }
    } catch (err) {
      caught = err;
    }
    expect(ConnectError.from(caught).code).toBe(Code.Unimplemented);
  });

  it("serves reflection over gRPC (bidi on h2c) listing itself and health", async () => {
    const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: listener.url }));
    async function* input() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
    }
    const names: string[] = [];
    for await (const res of reflection.serverReflectionInfo(input())) {
      if (res.messageResponse.case === "listServicesResponse") {
        names.push(...res.messageResponse.value.service.map((s) => s.name));
      }
    }
    expect(names).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "tokenkit.v1.HeartbeatService",
    ]);
  });

  it("serves the JWKS as cacheable JSON", async () => {
    const res = await get("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers["cache-control"]).toBe("public, max-age=300");
    expect(JSON.parse(res.body)).toEqual(JWKS);
    const withQuery = await get("/.well-known/jwks.json?x=1");
    expect(withQuery.status).toBe(200);
    const head = await get("/.well-known/jwks.json", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    const post = await get("/.well-known/jwks.json", "POST");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("answers 404 for unknown paths and services", async () => {
    expect((await get("/")).status).toBe(404);
    expect((await get("/.well-known/openid-configuration")).status).toBe(404);
    expect((await get("/tokenkit.v1.NoService/Call", "POST")).status).toBe(404);
  });

  it("validates its options", () => {
    expect(() => createTokenkitHandler({ services: [{} as never], routes: () => {} })).toThrow(/"services"/);
    expect(() => createTokenkitHandler({ services: [], routes: undefined as never })).toThrow(/"routes"/);
    expect(() => createTokenkitHandler({ services: [Health], routes: () => {} })).toThrow(/registered twice/);
  });
});

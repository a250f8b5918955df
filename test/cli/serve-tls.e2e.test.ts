import { readFileSync } from "node:fs";
import { request } from "node:https";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { cleanEnv, startServe, type ServeProcess } from "./tokenkit-process.js";

// A self-signed test certificate for 127.0.0.1 (P-256, valid for 100 years), made with
// `openssl req -x509 -newkey ec … -addext subjectAltName=IP:127.0.0.1,DNS:localhost`. Test use only.
const CERT = new URL("./fixtures/localhost-cert.pem", import.meta.url);
const KEY = new URL("./fixtures/localhost-key.pem", import.meta.url);
// A key as `openssl rand -base64 32` makes it: serve refuses guessable ones.
const ADMIN = "Tq8Vn1Xc5Rz3Kp7Wm2Hs9Lb4Jd6Fy0Ga5Ue8Io1Qw3E=";

describe("tokenkit serve --tls-cert/--tls-key", () => {
  let server: ServeProcess;
  const ca = readFileSync(CERT);
  beforeAll(async () => {
    server = await startServe(["--port", "0", "--store", "memory", "--tls-cert", CERT.pathname, "--tls-key", KEY.pathname], cleanEnv({ TOKENKIT_ADMIN_KEY: ADMIN }));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("announces an https URL and serves Connect over HTTP/2 and gRPC on it, verified against the certificate", async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "2", nodeOptions: { ca } }));
    const pair = (await tokens.issueToken({ subject: "tls-agent", scopes: ["heartbeat:write"] }, { headers: { "x-api-key": ADMIN } })).tokenPair!;
    expect(pair.tokenType).toBe("Bearer");
    const bearer: Interceptor = (next) => (req) => {
      req.header.set("authorization", `Bearer ${pair.accessToken}`);
      return next(req);
    };
    const heartbeat = createClient(HeartbeatService, createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca }, interceptors: [bearer] }));
    expect((await heartbeat.heartbeat({ instanceId: "tls" })).interval?.seconds).toBe(30n);
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca } }));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("serves HTTP/1.1 over TLS too (the JWKS, as a browser or curl fetches it)", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${server.url}/.well-known/jwks.json`, { ca }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(200);
    expect((JSON.parse(body) as { keys: { kty: string }[] }).keys[0]?.kty).toBe("OKP");
  });

  it("refuses a client that does not trust the certificate", async () => {
    const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "2" }));
    await expect(tokens.revokeToken({ token: "x" })).rejects.toThrow(/certificate/i);
  });
});

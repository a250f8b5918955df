import { createServer } from "node:http";
import { connect as connectHttp2 } from "node:http2";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { createUnaryFastPath } from "../../src/server/serve/unary-fast-path.js";
import { createKeyRing, createMemoryKeyStore } from "../../src/server/index.js";
import { createTokenService } from "../../src/server/token-service.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";

const ADMIN = "Zk4q9V0m2cX7tRb1LwYp8sNd3hJf6uGe5aQo0iTz1yE=";
const PATH = "/tokenkit.v1.TokenService/";

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

async function post(base: string, method: string, body: string | Uint8Array, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(base + PATH + method, { method: "POST", headers, body });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: Buffer.from(await res.arrayBuffer()) };
}

/** postH2 posts over h2c without a content-length (as connect-node's own client does), the body in 700-byte frames. */
async function postH2(base: string, method: string, body: string | Uint8Array, headers: Record<string, string>): Promise<Answer> {
  const session = connectHttp2(base);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": PATH + method, ...headers });
      const chunks: Buffer[] = [];
      let head: Record<string, string> = {};
      req.on("response", (h) => (head = Object.fromEntries(Object.entries(h).map(([k, v]) => [k, String(v)]))));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ status: Number(head[":status"]), headers: head, body: Buffer.concat(chunks) }));
      req.on("error", reject);
      const bytes = Buffer.from(body);
      for (let i = 0; i < bytes.byteLength; i += 700) req.write(bytes.subarray(i, i + 700));
      req.end();
    });
  } finally {
    session.close();
  }
}

/** The parts of an answer that must not depend on which path served it (token text is random). */
function comparable(a: Answer): unknown {
  const type = a.headers["content-type"];
  let body: unknown = a.body.toString("base64");
  if (type === "application/json") {
    body = JSON.parse(a.body.toString("utf8"), (key, value) =>
      ["accessToken", "refreshToken", "sessionId", "accessTokenExpireTime", "refreshTokenExpireTime"].includes(key) ? typeof value : value,
    );
  } else if (a.status === 200) {
    body = `${a.body.byteLength > 0 ? "some" : "no"} proto bytes`;
  }
  return { status: a.status, type, encoding: a.headers["content-encoding"], body };
}

describe("the unary fast path answers exactly as the Connect handler does", () => {
  let server: TokenkitServer;
  let dir: string;
  let refresh: () => Promise<string>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tokenkit-fast-"));
    server = await createTokenkitServer({ port: 0, dataDir: dir, store: "memory", adminKey: ADMIN });
    refresh = async () => {
      const a = await post(server.url, "IssueToken", JSON.stringify({ subject: "alice" }), { "content-type": "application/json", "x-api-key": ADMIN });
      return JSON.parse(a.body.toString("utf8")).tokenPair.refreshToken as string;
    };
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const json = { "content-type": "application/json" };
  const proto = { "content-type": "application/proto" };
  // Each case: method, body (or a function making it), headers. The connect-es path is forced with a
  // connect-timeout-ms header, which the fast path leaves to it and which changes nothing else here.
  const cases: [string, string, (refreshToken: string) => string | Uint8Array, Record<string, string>][] = [
    ["a valid refresh (JSON)", "RefreshToken", (t) => JSON.stringify({ refreshToken: t }), json],
    ["a valid refresh, charset given", "RefreshToken", (t) => JSON.stringify({ refresh_token: t }), { "content-type": "application/json; charset=utf-8" }],
    ["an empty refresh token", "RefreshToken", () => "{}", json],
    ["a refresh token of the wrong JSON type", "RefreshToken", () => '{"refreshToken": 5}', json],
    ["a body that is not JSON", "RefreshToken", () => "not json", json],
    ["an unknown field", "RefreshToken", () => '{"refreshTokn": "x"}', json],
    ["an unknown refresh handle", "RefreshToken", () => JSON.stringify({ refreshToken: `tkr_${"A".repeat(43)}sid` }), json],
    ["an access token presented to RefreshToken", "RefreshToken", () => JSON.stringify({ refreshToken: "a.b.c" }), json],
    ["binary garbage", "RefreshToken", () => new Uint8Array([0xff, 0xff, 0xff]), proto],
    ["an empty binary request", "RefreshToken", () => new Uint8Array(0), proto],
    ["IssueToken without credentials", "IssueToken", () => JSON.stringify({ subject: "x" }), json],
    ["IssueToken with a wrong admin key", "IssueToken", () => JSON.stringify({ subject: "x" }), { ...json, "x-api-key": "wrong" }],
    ["IssueToken with an invalid subject", "IssueToken", () => JSON.stringify({ subject: "" }), { ...json, "x-api-key": ADMIN }],
    ["a valid IssueToken", "IssueToken", () => JSON.stringify({ subject: "bob", scopes: ["a"] }), { ...json, "x-api-key": ADMIN }],
    ["RevokeToken of garbage (RFC 7009: OK)", "RevokeToken", () => JSON.stringify({ token: "garbage" }), json],
    ["ExchangeToken without a bearer", "ExchangeToken", () => JSON.stringify({ actor: "agent" }), json],
    ["a body over readMaxBytes (4 MiB)", "RevokeToken", () => JSON.stringify({ token: "x".repeat(4 * 1024 * 1024) }), json],
  ];

  for (const [wire, send] of [["HTTP/1.1", post], ["h2c", postH2]] as const) {
    it.each(cases)(`${wire}: %s`, async (_name, method, body, headers) => {
      const fast = await send(server.url, method, body(await refresh()), headers);
      const connect = await send(server.url, method, body(await refresh()), { ...headers, "connect-timeout-ms": "60000" });
      expect(comparable(fast)).toEqual(comparable(connect));
      expect(fast.headers["content-length"]).toBe(String(fast.body.byteLength));
    });
  }
});

describe("createUnaryFastPath takes only plain Connect unary POSTs", () => {
  let base: string;
  let close: () => void;
  beforeAll(async () => {
    const keyRing = await createKeyRing({ store: createMemoryKeyStore() });
    const impl = createTokenService({ store: createMemoryFamilyStore(), keyRing, issuer: "http://fast.test", adminKey: ADMIN });
    const fast = createUnaryFastPath({ service: TokenService, impl: impl as never, readMaxBytes: 1024, compressMinBytes: 1024 });
    const http = createServer((req, res) => {
      if (!fast(req, res)) {
        res.writeHead(599).end();
      }
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    close = () => http.close();
  });
  afterAll(() => close());

  it("serves the plain case, and passes on everything connect-es treats specially", async () => {
    const body = JSON.stringify({ token: "garbage" });
    const taken = (headers: Record<string, string>, init: RequestInit = {}) =>
      fetch(`${base}${PATH}RevokeToken`, { method: "POST", headers, body, ...init }).then((r) => r.status !== 599);
    expect(await taken({ "content-type": "application/json" })).toBe(true);
    expect(await taken({ "content-type": "application/proto" })).toBe(true);
    expect(await taken({ "content-type": "application/json", "connect-protocol-version": "1" })).toBe(true);
    expect(await taken({ "content-type": "application/json", "connect-timeout-ms": "100" })).toBe(false);
    expect(await taken({ "content-type": "application/json", "content-encoding": "gzip" })).toBe(false);
    expect(await taken({ "content-type": "application/grpc" })).toBe(false);
    expect(await taken({ "content-type": "application/connect+json" })).toBe(false);
    expect(await taken({ "content-type": "text/plain" })).toBe(false);
    expect(await taken({ "content-type": "application/json" }, { body: JSON.stringify({ token: "x".repeat(2000) }) })).toBe(false); // over readMaxBytes
    const chunked = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode(body)), c.close()) });
    expect(await taken({ "content-type": "application/json" }, { body: chunked, duplex: "half" } as RequestInit)).toBe(true); // no content-length: read with the limit
    expect(await fetch(`${base}${PATH}RevokeToken?x=1`, { method: "POST", headers: { "content-type": "application/json" }, body }).then((r) => r.status)).toBe(599);
    expect(await fetch(`${base}${PATH}RevokeToken`).then((r) => r.status)).toBe(599);
  });
});

describe("createUnaryFastPath when an answer cannot be written", () => {
  it("ends that exchange and keeps serving (no unhandled rejection)", async () => {
    const { Code, ConnectError } = await import("@connectrpc/connect");
    // A header value Headers accepts but Node refuses to write (a control character).
    const impl = {
      revokeToken: () => {
        throw new ConnectError("refused", Code.InvalidArgument, { "x-detail": "a\u0001b" });
      },
      refreshToken: () => ({}),
    };
    const fast = createUnaryFastPath({ service: TokenService, impl, readMaxBytes: 1024, compressMinBytes: 1024 });
    const http = createServer((req, res) => {
      if (!fast(req, res)) res.writeHead(599).end();
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(http.address() as { port: number }).port}${PATH}`;
    try {
      const init = { method: "POST", headers: { "content-type": "application/json" }, body: "{}" };
      await expect(fetch(`${base}RevokeToken`, init)).rejects.toThrow();
      const ok = await fetch(`${base}RefreshToken`, init);
      expect(ok.status).toBe(200);
    } finally {
      http.close();
    }
  });
});

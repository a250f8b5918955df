import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cors } from "@connectrpc/connect";
import { createCorsHandler, normalizeCorsOrigin } from "../../src/server/serve/cors-handler.js";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { contentTypeOf, createStaticHandler } from "../../src/server/serve/static-handler.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP/1.1 request: the path goes out exactly as written (no URL normalization of `..`). */
function raw(url: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: init.method ?? "GET", headers: init.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

const PAGE = "http://127.0.0.1:5173";
const ADMIN_KEY = "cors-static-test-admin-key";
let dir: string;
let outside: string;
let server: TokenkitServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tokenkit-static-"));
  outside = await mkdtemp(join(tmpdir(), "tokenkit-outside-"));
  await writeFile(join(dir, "index.html"), "<!doctype html><title>app</title>");
  await writeFile(join(dir, "app.js"), "console.log(1)");
  await writeFile(join(dir, "data.bin"), "x");
  await writeFile(join(dir, ".env"), "SECRET=1");
  await mkdir(join(dir, "sub"));
  await writeFile(join(dir, "sub", "index.html"), "sub");
  await writeFile(join(outside, "secret.txt"), "secret");
  await symlink(join(outside, "secret.txt"), join(dir, "escape.txt"));
  server = await createTokenkitServer({ port: 0, store: "memory", adminKey: ADMIN_KEY, corsOrigins: [PAGE, "https://app.example.com"], staticDir: dir });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe("CORS on tokenkit serve", () => {
  it("answers a preflight from an allowed origin with connect-es's methods and headers plus Authorization", async () => {
    const res = await raw(server.url, "/tokenkit.v1.HeartbeatService/Heartbeat", {
      method: "OPTIONS",
      headers: { origin: PAGE, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,connect-protocol-version" },
    });
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe(PAGE);
    expect(res.headers["access-control-allow-methods"]).toBe(cors.allowedMethods.join(", "));
    const allowed = String(res.headers["access-control-allow-headers"]).split(", ");
    expect(allowed).toEqual([...cors.allowedHeaders, "Authorization"]);
    expect(res.headers["access-control-max-age"]).toBe("7200");
    expect(res.headers["access-control-allow-credentials"]).toBeUndefined();
    expect(res.headers.vary).toContain("Origin");
  });

  it("exposes the Connect/gRPC-Web headers on an allowed origin's call (errors included)", async () => {
    const res = await raw(server.url, "/tokenkit.v1.HeartbeatService/Heartbeat", {
      method: "POST",
      headers: { origin: PAGE, "content-type": "application/json", "connect-protocol-version": "1" },
      body: "{}",
    });
    expect(res.status).toBe(401); // no bearer: the call itself is refused, readable by the page
    expect(res.headers["access-control-allow-origin"]).toBe(PAGE);
    expect(String(res.headers["access-control-expose-headers"]).split(", ")).toEqual(cors.exposedHeaders);
  });

  it("gives a disallowed origin no CORS header at all; its preflight is 403", async () => {
    const pre = await raw(server.url, "/tokenkit.v1.TokenService/RefreshToken", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(pre.status).toBe(403);
    const call = await raw(server.url, "/tokenkit.v1.TokenService/RefreshToken", {
      method: "POST",
      headers: { origin: "https://evil.example", "content-type": "application/json" },
      body: '{"refreshToken":"x"}',
    });
    for (const r of [pre, call]) {
      expect(Object.keys(r.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    }
  });

  it("leaves requests without Origin alone", async () => {
    const res = await raw(server.url, "/app.js");
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("validates origins with a TypeError naming the option", async () => {
    for (const bad of ["example.com", "https://a.example/path", "ftp://a.example", "https://a.example?x", ""]) {
      expect(() => normalizeCorsOrigin(bad), bad).toThrow(TypeError);
    }
    expect(normalizeCorsOrigin("https://A.example/")).toBe("https://a.example");
    expect(normalizeCorsOrigin("*")).toBe("*");
    expect(() => createCorsHandler({ origins: [] }, () => {})).toThrow(/option "origins"/);
    expect(() => createCorsHandler({ origins: ["*"], allowedHeaders: ["bad header"] }, () => {})).toThrow(/option "allowedHeaders"/);
    await expect(createTokenkitServer({ port: 0, store: "memory", adminKey: ADMIN_KEY, corsOrigins: ["https://x.example/app"] })).rejects.toThrow(
      /option "corsOrigins"/,
    );
  });

  it("'*' allows any origin", async () => {
    const handler = createCorsHandler({ origins: ["*"] }, (_req, res) => res.end());
    const headers: Record<string, string> = {};
    const res = { setHeader: (k: string, v: string) => (headers[k] = v), end: () => {}, writeHead: () => {} };
    handler({ headers: { origin: "https://any.example" }, method: "POST" } as never, res as never);
    expect(headers["access-control-allow-origin"]).toBe("https://any.example");
  });
});

describe("--static on tokenkit serve", () => {
  it("serves files with content types, index.html for directories, HEAD without a body", async () => {
    const index = await raw(server.url, "/");
    expect(index.status).toBe(200);
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(index.body).toContain("<title>app</title>");
    expect(index.headers["x-content-type-options"]).toBe("nosniff");
    const js = await raw(server.url, "/app.js?v=1");
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect((await raw(server.url, "/data.bin")).headers["content-type"]).toBe("application/octet-stream");
    expect((await raw(server.url, "/sub/")).body).toBe("sub");
    const head = await raw(server.url, "/app.js", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("14");
    expect(head.body).toBe("");
  });

  it("never serves outside the directory: .. (plain or encoded), backslashes, NUL, symlinks out, dotfiles", async () => {
    for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/etc/passwd", "/..%2fsecret.txt", "/sub\\..\\app.js", "/app.js%00.html"]) {
      const res = await raw(server.url, path);
      expect(res.status, path).toBe(400);
    }
    for (const path of ["/escape.txt", "/.env", "/missing.js", "/%E0%A4%A"]) {
      const res = await raw(server.url, path);
      expect([400, 404], path).toContain(res.status);
      expect(res.body).not.toContain("secret");
      expect(res.body).not.toContain("SECRET");
    }
  });

  it("keeps RPCs, the JWKS and health routed as before; other methods on files are 405", async () => {
    const jwks = await raw(server.url, "/.well-known/jwks.json");
    expect(jwks.status).toBe(200);
    expect(JSON.parse(jwks.body).keys.length).toBeGreaterThan(0);
    const post = await raw(server.url, "/app.js", { method: "POST" });
    expect(post.status).toBe(405);
  });

  it("rejects a missing directory at construction, naming the option", async () => {
    await expect(createStaticHandler({ root: join(dir, "nope") })).rejects.toThrow(/option "root"/);
    await expect(createStaticHandler({ root: join(dir, "app.js") })).rejects.toThrow(/not a directory/);
    await expect(createStaticHandler({ root: dir, index: "../x" })).rejects.toThrow(/option "index"/);
    await expect(createTokenkitServer({ port: 0, store: "memory", adminKey: ADMIN_KEY, staticDir: join(dir, "nope") })).rejects.toThrow(/option "staticDir"/);
    expect(contentTypeOf("a.MJS")).toBe("text/javascript; charset=utf-8");
  });
});

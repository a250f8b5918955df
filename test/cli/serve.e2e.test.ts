import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect as connectNet } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authErrorReason } from "../../src/auth-error.js";
import { createFileTokenStore } from "../../src/node/file-token-store.js";
import { BUF, cleanEnv, ROOT, runCli, startServe, type ServeProcess } from "./tokenkit-process.js";

const run = promisify(execFile);
const dirs: string[] = [];
const servers: ServeProcess[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tokenkit-serve-"));
  dirs.push(d);
  return d;
}

async function serve(args: string[], env?: Record<string, string>): Promise<ServeProcess> {
  const s = await startServe(["--port", "0", ...args], env);
  servers.push(s);
  return s;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
  for (const d of dirs) {
    rmSync(d, { recursive: true, force: true });
  }
});

function adminKeyOf(dataDir: string): string {
  return readFileSync(join(dataDir, "admin-key"), "utf8").trim();
}

async function fetchJwks(url: string): Promise<{ jwks: JSONWebKeySet; headers: Headers }> {
  const res = await fetch(`${url}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return { jwks: (await res.json()) as JSONWebKeySet, headers: res.headers };
}

async function expectAuthFailure(p: Promise<unknown>, reason: AuthErrorReason): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  expect(Code[(caught as ConnectError).code]).toBe(Code[Code.Unauthenticated]);
  expect(AuthErrorReason[authErrorReason(caught) ?? 0]).toBe(AuthErrorReason[reason]);
}

describe("tokenkit serve (one shared server)", () => {
  let server: ServeProcess;
  let dataDir: string;
  let adminKey: string;

  beforeAll(async () => {
    dataDir = tempDir();
    // No grace window: any double use of a refresh token shows up as reuse.
    server = await serve(["--data-dir", dataDir, "--grace-period", "0"]);
    adminKey = adminKeyOf(dataDir);
  });

  it("prints the listening line once and only the path of the generated admin key (mode 0600)", () => {
    const keyPath = join(dataDir, "admin-key");
    expect(server.stdoutLines).toEqual([keyPath, `tokenkit listening on http://127.0.0.1:${server.port}`]);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(adminKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(server.stderr).not.toContain(adminKey);
  });

  const transports: [string, (url: string) => Transport][] = [
    ["Connect over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
    ["Connect over h2c", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
    ["gRPC over h2c", (baseUrl) => createGrpcTransport({ baseUrl })],
    ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
    ["gRPC-Web over h2c", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" })],
  ];

  it.each(transports)("issues and rotates tokens with %s", async (name, transport) => {
    const client = createClient(TokenService, transport(server.url));
    const issued = (
      await client.issueToken(
        { subject: `user-${name}`, scopes: ["a", "b"], refreshTokenTtlSeconds: 7200n },
        { headers: { "x-api-key": adminKey } },
      )
    ).tokenPair!;
    expect(issued.tokenType).toBe("Bearer");
    expect(issued.refreshTokenTtlSeconds).toBe(7200n);
    expect(issued.scopes).toEqual(["a", "b"]);
    const rotated = (await client.refreshToken({ refreshToken: issued.refreshToken })).tokenPair!;
    expect(rotated.sessionId).toBe(issued.sessionId);
    expect(rotated.refreshTokenTtlSeconds).toBe(7200n);
    expect(rotated.refreshToken).not.toBe(issued.refreshToken);
    expect(rotated.accessToken).not.toBe(issued.accessToken);
  });

  it("rejects IssueToken without the admin key", async () => {
    const client = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    await expectAuthFailure(client.issueToken({ subject: "x" }), AuthErrorReason.TOKEN_MISSING);
    await expectAuthFailure(client.issueToken({ subject: "x" }, { headers: { "x-api-key": "wrong-key-0123456789" } }), AuthErrorReason.TOKEN_INVALID);
  });

  it("publishes a JWKS that verifies issued access tokens with plain jose", async () => {
    const client = createClient(TokenService, createGrpcTransport({ baseUrl: server.url }));
    const pair = (await client.issueToken({ subject: "jose", audiences: ["api"] }, { headers: { "x-api-key": adminKey } })).tokenPair!;
    const { jwks, headers } = await fetchJwks(server.url);
    expect(headers.get("content-type")).toBe("application/json");
    expect(headers.get("cache-control")).toMatch(/max-age=300/);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
    const { payload, protectedHeader } = await jwtVerify(pair.accessToken, createLocalJWKSet(jwks), {
      issuer: server.url,
      audience: "api",
      typ: "at+jwt",
      algorithms: ["EdDSA"],
    });
    expect(payload.sub).toBe("jose");
    expect(payload.sid).toBe(pair.sessionId);
    expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
  });

  it("answers health checks with SERVING", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "tokenkit.v1.TokenService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await expect(health.check({ service: "tokenkit.v1.Nope" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("answers 404 for unknown paths", async () => {
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it.each([
    ["Connect over h2c", ["--http2-prior-knowledge"]],
    ["gRPC over h2c", ["--http2-prior-knowledge", "--protocol", "grpc"]],
  ])("works with buf curl and reflection, no --schema (%s)", async (_, protocolFlags) => {
    const call = async (method: string, body: unknown, headers: string[] = []) => {
      const { stdout } = await run(
        BUF,
        ["curl", ...protocolFlags, ...headers.flatMap((h) => ["-H", h]), "-d", JSON.stringify(body), `${server.url}/tokenkit.v1.TokenService/${method}`],
        { cwd: ROOT, env: cleanEnv() },
      );
      return JSON.parse(stdout) as { tokenPair: Record<string, unknown> };
    };
    const issued = await call("IssueToken", { subject: "buf", refreshTokenTtlSeconds: "3600" }, [`x-api-key: ${adminKey}`]);
    expect(issued.tokenPair.tokenType).toBe("Bearer");
    expect(issued.tokenPair.refreshTokenTtlSeconds).toBe("3600");
    expect(issued.tokenPair.accessTokenExpireTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    const rotated = await call("RefreshToken", { refreshToken: issued.tokenPair.refreshToken });
    expect(rotated.tokenPair.sessionId).toBe(issued.tokenPair.sessionId);
    expect(rotated.tokenPair.refreshToken).not.toBe(issued.tokenPair.refreshToken);
  });

  it("runs issue, refresh and revoke from the command line", async () => {
    const env = cleanEnv({ TOKENKIT_ADMIN_KEY: adminKey });
    const issued = await runCli(["issue", "--url", server.url, "--subject", "cli", "--scope", "read", "--scope", "write", "--refresh-ttl", "2h", "--metadata", "team=blue"], env);
    expect(issued.stderr).toBe("");
    expect(issued.code).toBe(0);
    const pair = JSON.parse(issued.stdout) as Record<string, unknown>;
    expect(pair).toMatchObject({ tokenType: "Bearer", refreshTokenTtlSeconds: "7200", scopes: ["read", "write"] });

    // The admin key may come from the file instead of the environment; the refresh token from its twin.
    const refreshed = await runCli(["refresh", "--url", server.url], cleanEnv({ TOKENKIT_REFRESH_TOKEN: pair.refreshToken as string }));
    expect(refreshed.code).toBe(0);
    const next = JSON.parse(refreshed.stdout) as Record<string, unknown>;
    expect(next.sessionId).toBe(pair.sessionId);
    expect(next.refreshTokenTtlSeconds).toBe("7200");

    const viaFile = await runCli(["issue", "--url", server.url, "--subject", "cli2", "--admin-key-file", join(dataDir, "admin-key")]);
    expect(viaFile.code).toBe(0);
    // Without either, the key a local server generated in $TOKENKIT_DATA_DIR is used.
    const viaDataDir = await runCli(["issue", "--url", server.url, "--subject", "cli3"], cleanEnv({ TOKENKIT_DATA_DIR: dataDir }));
    expect(viaDataDir.code).toBe(0);
    const noKey = await runCli(["issue", "--url", server.url, "--subject", "cli4"], cleanEnv({ TOKENKIT_DATA_DIR: join(dataDir, "missing") }));
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain("TOKENKIT_ADMIN_KEY");

    const revoked = await runCli(["revoke", "--url", server.url, "--token", next.refreshToken as string]);
    expect(revoked.code).toBe(0);
    const after = await runCli(["refresh", "--url", server.url, "--refresh-token", next.refreshToken as string]);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("Unauthenticated");
    expect(after.stderr).toContain("TOKEN_REVOKED");
    expect(after.stderr).not.toContain(next.refreshToken as string);
  });

  it("keeps a session in a token file: issue --store, then refresh --store from concurrent processes", async () => {
    const file = join(tempDir(), "session", "token.json");
    const env = cleanEnv({ TOKENKIT_ADMIN_KEY: adminKey });
    const issued = await runCli(["issue", "--url", server.url, "--subject", "file", "--store", file], env);
    expect(issued.code).toBe(0);
    const first = JSON.parse(issued.stdout) as { refreshToken: string; sessionId: string };
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const tokenFile = createFileTokenStore({ path: file });
    expect(await tokenFile.load()).toMatchObject({ refreshToken: first.refreshToken, sessionId: first.sessionId });

    // Two processes at once: the file lock makes them rotate one after the other, never the same token twice.
    const [a, b] = await Promise.all([
      runCli(["refresh", "--url", server.url, "--store", file]),
      runCli(["refresh", "--url", server.url], cleanEnv({ TOKENKIT_TOKEN_STORE: file })),
    ]);
    expect([a.code, b.code, a.stderr + b.stderr]).toEqual([0, 0, ""]);
    const pa = JSON.parse(a.stdout) as { refreshToken: string; sessionId: string };
    const pb = JSON.parse(b.stdout) as { refreshToken: string; sessionId: string };
    expect(pa.sessionId).toBe(first.sessionId);
    expect(pb.sessionId).toBe(first.sessionId);
    expect(new Set([first.refreshToken, pa.refreshToken, pb.refreshToken]).size).toBe(3);
    const saved = await tokenFile.load();
    expect([pa.refreshToken, pb.refreshToken]).toContain(saved?.refreshToken);

    const both = await runCli(["refresh", "--url", server.url, "--store", file, "--refresh-token", "x"]);
    expect(both.code).toBe(2);
    const empty = await runCli(["refresh", "--url", server.url, "--store", join(tempDir(), "none.json")]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("holds no refresh token");
  });

  it("fails a client command against a dead server with exit code 1", async () => {
    const res = await runCli(["revoke", "--url", "http://127.0.0.1:1", "--token", "x"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^tokenkit revoke: \[Unavailable\]/);
  });
});

describe("tokenkit serve across restarts", () => {
  it("keeps refresh tokens, keys and reuse detection in the data directory", async () => {
    const dataDir = tempDir();
    const args = ["--data-dir", dataDir, "--grace-period", "0", "--issuer", "http://tokenkit.test"];
    const first = await serve(args);
    const adminKey = adminKeyOf(dataDir);
    const client1 = createClient(TokenService, createConnectTransport({ baseUrl: first.url, httpVersion: "1.1" }));
    const p0 = (await client1.issueToken({ subject: "persist", refreshTokenTtlSeconds: 3600n }, { headers: { "x-api-key": adminKey } })).tokenPair!;
    const p1 = (await client1.refreshToken({ refreshToken: p0.refreshToken })).tokenPair!;
    const jwks1 = (await fetchJwks(first.url)).jwks;
    expect(await first.stop("SIGTERM")).toBe(0);
    expect(first.stderr).toContain("stopped");

    const second = await serve(args);
    expect(second.port).not.toBe(0);
    // The admin key is reused, not regenerated.
    expect(adminKeyOf(dataDir)).toBe(adminKey);
    expect(second.stdoutLines[0]).toBe(join(dataDir, "admin-key"));
    expect((await fetchJwks(second.url)).jwks).toEqual(jwks1);

    const client2 = createClient(TokenService, createGrpcTransport({ baseUrl: second.url }));
    const p2: TokenPair = (await client2.refreshToken({ refreshToken: p1.refreshToken })).tokenPair!;
    expect(p2.sessionId).toBe(p0.sessionId);
    expect(p2.refreshTokenTtlSeconds).toBe(3600n);
    const { payload } = await jwtVerify(p2.accessToken, createLocalJWKSet((await fetchJwks(second.url)).jwks), { issuer: "http://tokenkit.test" });
    expect(payload.sid).toBe(p0.sessionId);

    // p0 was spent before the restart; with no grace period its reuse revokes the family.
    await expectAuthFailure(client2.refreshToken({ refreshToken: p0.refreshToken }), AuthErrorReason.REFRESH_TOKEN_REUSED);
    await expectAuthFailure(client2.refreshToken({ refreshToken: p2.refreshToken }), AuthErrorReason.REFRESH_TOKEN_REUSED);
    expect(second.stderr).not.toContain(p0.refreshToken);
    expect(await second.stop("SIGINT")).toBe(0);
  });

  it("uses TOKENKIT_ADMIN_KEY instead of generating a key file", async () => {
    const dataDir = tempDir();
    const adminKey = "Hk2v9QmZp4Xw7Lr1sNc8Tb3Yd6Fg0Ja5Ue2Io7Wq4Ez=";
    const s = await serve(["--data-dir", dataDir], cleanEnv({ TOKENKIT_ADMIN_KEY: adminKey }));
    expect(s.stdoutLines).toEqual([`tokenkit listening on ${s.url}`]);
    expect(() => statSync(join(dataDir, "admin-key"))).toThrow();
    const client = createClient(TokenService, createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }));
    const pair = (await client.issueToken({ subject: "env" }, { headers: { "x-api-key": adminKey } })).tokenPair!;
    expect(pair.tokenType).toBe("Bearer");
    expect(await s.stop()).toBe(0);
  });

  it("takes its settings from TOKENKIT_* twins, flags winning", async () => {
    const dataDir = tempDir();
    const s = await serve(["--default-refresh-ttl", "2h"], cleanEnv({ TOKENKIT_DATA_DIR: dataDir, TOKENKIT_DEFAULT_REFRESH_TTL: "1h", TOKENKIT_STORE: "memory" }));
    expect(s.stdoutLines[0]).toBe(join(dataDir, "admin-key"));
    const client = createClient(TokenService, createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }));
    const pair = (await client.issueToken({ subject: "twin" }, { headers: { "x-api-key": adminKeyOf(dataDir) } })).tokenPair!;
    expect(pair.refreshTokenTtlSeconds).toBe(7200n);
    // --store memory (from the twin) writes neither a database nor a key file.
    expect(() => statSync(join(dataDir, "tokenkit.db"))).toThrow();
    expect(() => statSync(join(dataDir, "keys.json"))).toThrow();
    expect(await s.stop()).toBe(0);
  });
});

describe("tokenkit serve shutdown", () => {
  it("lets an in-flight unary call finish after SIGTERM, then exits 0", async () => {
    const dataDir = tempDir();
    const s = await serve(["--data-dir", dataDir]);
    const adminKey = adminKeyOf(dataDir);
    const body = JSON.stringify({ subject: "inflight" });
    const socket = connectNet(s.port, "127.0.0.1");
    let response = "";
    socket.setEncoding("utf8");
    const continued = new Promise<void>((resolve) =>
      socket.on("data", (c: string) => {
        response += c;
        if (response.includes("100 Continue")) {
          resolve();
        }
      }),
    );
    const ended = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    // Expect: 100-continue makes the server confirm it has the request before we send the body.
    socket.write(
      "POST /tokenkit.v1.TokenService/IssueToken HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        `Connect-Protocol-Version: 1\r\nX-Api-Key: ${adminKey}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await continued;
    s.child.kill("SIGTERM");
    await s.waitForStderr("shutting down");
    // New connections are refused while the call drains.
    await expect(fetch(`${s.url}/.well-known/jwks.json`)).rejects.toThrow();
    socket.write(body);
    await ended;
    const final = response.slice(response.lastIndexOf("HTTP/1.1 "));
    expect(final).toMatch(/^HTTP\/1\.1 200 /);
    expect(final.toLowerCase()).toContain("connection: close");
    expect(final).toContain('"tokenType":"Bearer"');
    expect(await s.exited).toBe(0);
  });

  it("keeps serving an open HTTP/2 stream after SIGTERM until it ends", async () => {
    const s = await serve(["--data-dir", tempDir()]);
    const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: s.url }));
    // Requests are fed one at a time; undefined ends the request stream.
    const queue: (string | undefined)[] = [];
    let wake: (() => void) | undefined;
    const push = (v: string | undefined) => {
      queue.push(v);
      wake?.();
    };
    async function* requests() {
      for (;;) {
        while (queue.length === 0) {
          await new Promise<void>((r) => (wake = r));
        }
        const next = queue.shift();
        if (next === undefined) {
          return;
        }
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: next } };
      }
    }
    const responses = reflection.serverReflectionInfo(requests())[Symbol.asyncIterator]();
    push("tokenkit.v1.TokenService");
    expect((await responses.next()).value?.messageResponse.case).toBe("fileDescriptorResponse");
    s.child.kill("SIGTERM");
    await s.waitForStderr("shutting down");
    push("google.protobuf.Timestamp");
    expect((await responses.next()).value?.messageResponse.case).toBe("fileDescriptorResponse");
    push(undefined);
    expect((await responses.next()).done).toBe(true);
    expect(await s.exited).toBe(0);
  });

  it("reloads rotated keys on SIGHUP", async () => {
    const dataDir = tempDir();
    const s = await serve(["--data-dir", dataDir]);
    const before = (await fetchJwks(s.url)).jwks.keys.map((k) => k.kid);
    expect(before).toHaveLength(1);
    const rotated = await runCli(["keys", "rotate", "--data-dir", dataDir]);
    expect(rotated.code).toBe(0);
    const kid = rotated.stdout.trim();
    expect(kid).not.toBe(before[0]);
    s.child.kill("SIGHUP");
    await s.waitForStderr("signing keys reloaded");
    const after = (await fetchJwks(s.url)).jwks.keys.map((k) => k.kid);
    expect(after).toEqual([...before, kid]);
    // The old key still signs until the new one activates.
    const client = createClient(TokenService, createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }));
    const pair = (await client.issueToken({ subject: "k" }, { headers: { "x-api-key": adminKeyOf(dataDir) } })).tokenPair!;
    expect(decodeProtectedHeader(pair.accessToken).kid).toBe(before[0]);
    expect(await s.stop()).toBe(0);
  });
});

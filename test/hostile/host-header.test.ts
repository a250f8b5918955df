import { connect as connectNet } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";

/** rawHttp1 sends `request` as is on a fresh connection and resolves to everything the server answered. */
function rawHttp1(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectNet(port, "127.0.0.1");
    let response = "";
    socket.setEncoding("utf8");
    socket.on("data", (c: string) => (response += c));
    socket.on("error", reject);
    socket.on("close", () => resolve(response));
    socket.end(request);
  });
}

const BODY = '{"refreshToken":"x"}';
const refresh = (hostLines: string, version = "1.1") =>
  `POST /tokenkit.v1.TokenService/RefreshToken HTTP/${version}\r\n${hostLines}Content-Type: application/json\r\n` +
  `Content-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`;

let server: TokenkitServer;
let dir: string;
const logged: { level: string; message: string }[] = [];
const log = (level: string) => (message: string) => logged.push({ level, message });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tokenkit-host-"));
  server = await createTokenkitServer({
    store: "memory",
    port: 0,
    dataDir: dir,
    adminKey: "host-header-test-admin-key",
    logger: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
  });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("requests without a usable Host", () => {
  it.each([
    ["missing on HTTP/1.1", refresh("")],
    ["empty", refresh("Host: \r\n")],
    ["a space inside", refresh("Host: a b\r\n")],
    ["a bad port", refresh("Host: example.com:99999x\r\n")],
    ["an unclosed IPv6 literal", refresh("Host: [::1\r\n")],
    ["userinfo", refresh("Host: user@example.com\r\n")],
    ["a path", refresh("Host: example.com/x\r\n")],
    ["missing on HTTP/1.0", refresh("", "1.0")],
  ])("%s → 400, no error-level log line", async (_, request) => {
    const before = logged.length;
    const response = await rawHttp1(server.port, request);
    expect(response).toMatch(/^HTTP\/1\.[01] 400 /);
    expect(logged.slice(before).filter((l) => l.level === "error" || l.level === "warn")).toEqual([]);
  });

  it("a valid Host is served as before", async () => {
    const response = await rawHttp1(server.port, refresh(`Host: 127.0.0.1:${server.port}\r\n`));
    // A garbage refresh token is the caller's mistake: Unauthenticated, not a Host problem.
    expect(response).toMatch(/^HTTP\/1\.1 401 /);
    const ipv6 = await rawHttp1(server.port, refresh("Host: [::1]:8080\r\n"));
    expect(ipv6).toMatch(/^HTTP\/1\.1 401 /);
  });
});

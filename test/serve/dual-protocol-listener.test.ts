import { connect as connectHttp2, constants as h2c, type ClientHttp2Session } from "node:http2";
import { Agent, request as httpRequest } from "node:http";
import { connect as connectNet, type Socket } from "node:net";
import { request as httpsRequest } from "node:https";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  HTTP2_PREFACE,
  listenDualProtocol,
  sniffProtocol,
  type DualProtocolListener,
  type DualProtocolRequestHandler,
} from "../../src/server/serve/dual-protocol-listener.js";
import { createManualClock } from "../helpers/manual-clock.js";

const echo: DualProtocolRequestHandler = (req, res) => {
  let bytes = 0;
  req.on("data", (chunk: Uint8Array) => (bytes += chunk.length));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${req.httpVersion} ${req.method} ${req.url} ${bytes}`);
  });
};

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** One HTTP/1.1 request; resolves to status and body. */
function h1(url: string, path: string, options: { method?: string; body?: string; agent?: Agent } = {}): Promise<{ status: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method: options.method ?? "GET", agent: options.agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

/** One HTTP/2 request on `session`; resolves to status and body. */
function h2(session: ClientHttp2Session, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": body === undefined ? "GET" : "POST", ":path": path });
    let status = 0;
    let text = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => (status = Number(headers[":status"])));
    stream.on("data", (c: string) => (text += c));
    stream.on("end", () => (status === 0 ? reject(new Error("stream ended without a response")) : resolve({ status, body: text })));
    stream.on("error", reject);
    stream.end(body);
  });
}

function closed(socket: Socket | ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) {
      resolve();
    } else {
      socket.once("close", () => resolve());
    }
  });
}

const listeners: DualProtocolListener[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  cleanups.splice(0).forEach((fn) => fn());
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listen(handler: DualProtocolRequestHandler, extra: Parameters<typeof listenDualProtocol>[0] extends infer O ? Partial<O> : never = {}) {
  const l = await listenDualProtocol({ handler, port: 0, ...extra });
  listeners.push(l);
  return l;
}

describe("sniffProtocol", () => {
  const preface = HTTP2_PREFACE;
  it.each([
    ["empty", new Uint8Array(0), "incomplete"],
    ["first byte of the preface", preface.subarray(0, 1), "incomplete"],
    ["all but the last byte", preface.subarray(0, preface.length - 1), "incomplete"],
    ["the whole preface", preface, "http2"],
    ["the preface and a frame", new Uint8Array([...preface, 0, 0, 0, 4]), "http2"],
    ["GET", new TextEncoder().encode("GET / HTTP/1.1\r\n"), "http1"],
    ["POST", new TextEncoder().encode("POST"), "http1"],
    ["PRI with a wrong version", new TextEncoder().encode("PRI * HTTP/1.1\r\n"), "http1"],
    ["P then garbage", new TextEncoder().encode("PX"), "http1"],
  ] as const)("%s → %s", (_, bytes, want) => {
    expect(sniffProtocol(bytes)).toBe(want);
  });
});

describe("listenDualProtocol", () => {
  it("serves HTTP/1.1 and HTTP/2 with prior knowledge on one port", async () => {
    const l = await listen(echo);
    expect(l.url).toBe(`http://127.0.0.1:${l.port}`);
    expect(l.port).toBeGreaterThan(0);

    expect(await h1(l.url, "/one", { method: "POST", body: "x".repeat(100_000) })).toMatchObject({ status: 200, body: "1.1 POST /one 100000" });

    const session = connectHttp2(l.url);
    cleanups.push(() => session.destroy());
    const [a, b] = await Promise.all([h2(session, "/two", "y".repeat(70_000)), h2(session, "/three")]);
    expect(a).toEqual({ status: 200, body: "2.0 POST /two 70000" });
    expect(b).toEqual({ status: 200, body: "2.0 GET /three 0" });
  });

  it("waits for more bytes when the first read is only part of the preface", async () => {
    const l = await listen(echo);
    // Split the client's first write (the preface) across several TCP writes.
    const session = connectHttp2(l.url, {
      createConnection() {
        const socket = connectNet(l.port, "127.0.0.1");
        socket.setNoDelay(true);
        const write = socket.write.bind(socket) as (chunk: Uint8Array, cb?: () => void) => boolean;
        let first = true;
        socket.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
          if (!first) {
            return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
          }
          first = false;
          const bytes = new Uint8Array(chunk);
          write(bytes.subarray(0, 3), () =>
            setImmediate(() => write(bytes.subarray(3, 10), () => setImmediate(() => (write as (...a: unknown[]) => boolean)(bytes.subarray(10), ...rest)))),
          );
          return true;
        }) as typeof socket.write;
        return socket;
      },
    });
    cleanups.push(() => session.destroy());
    expect(await h2(session, "/split", "z")).toEqual({ status: 200, body: "2.0 POST /split 1" });

    // And an HTTP/1.1 request whose first read is a single byte that could start the preface.
    const raw = connectNet(l.port, "127.0.0.1");
    cleanups.push(() => raw.destroy());
    raw.setNoDelay(true);
    let response = "";
    raw.setEncoding("utf8");
    raw.on("data", (c: string) => (response += c));
    await new Promise<void>((resolve) => raw.once("connect", resolve));
    await new Promise<void>((resolve) => raw.write("P", () => resolve()));
    await new Promise<void>((resolve) => setImmediate(resolve));
    raw.end("OST /h1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab");
    await closed(raw);
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toContain("1.1 POST /h1 2");
  });

  it("answers 500 when the handler throws, and keeps serving", async () => {
    const l = await listen((req, res) => {
      if (req.url === "/boom") {
        throw new Error("boom");
      }
      echo(req, res);
    });
    expect((await h1(l.url, "/boom")).status).toBe(500);
    expect((await h1(l.url, "/ok")).status).toBe(200);
  });

  it("drains in-flight HTTP/1.1 and HTTP/2 calls on close, sending GOAWAY and refusing new connections", async () => {
    const release = deferred();
    const started: string[] = [];
    const bothStarted = deferred();
    const l = await listen((req, res) => {
      if (req.url === "/warm-up") {
        echo(req, res);
        return;
      }
      started.push(req.httpVersion);
      if (started.length === 2) {
        bothStarted.resolve();
      }
      void release.promise.then(() => echo(req, res));
    });
    const session = connectHttp2(l.url);
    cleanups.push(() => session.destroy());
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    const agent = new Agent({ keepAlive: true });
    cleanups.push(() => agent.destroy());
    const idleAgent = new Agent({ keepAlive: true });
    cleanups.push(() => idleAgent.destroy());
    // An idle keep-alive connection must not hold up the shutdown.
    await h1(l.url, "/warm-up", { agent: idleAgent });
    const inFlight = [h2(session, "/slow-h2", "a"), h1(l.url, "/slow-h1", { method: "POST", body: "bc", agent })];
    await bothStarted.promise;

    let closedYet = false;
    const closing = l.close().then(() => (closedYet = true));
    expect(await goaway).toBe(h2c.NGHTTP2_NO_ERROR);
    await expect(h1(l.url, "/late")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    expect(closedYet).toBe(false);
    release.resolve();
    const [a, b] = await Promise.all(inFlight);
    expect(a).toEqual({ status: 200, body: "2.0 POST /slow-h2 1" });
    expect(b).toMatchObject({ status: 200, body: "1.1 POST /slow-h1 2", connection: "close" });
    await closing;
    expect(l.connections).toBe(0);
  });

  it("cuts off calls still running after the drain timeout", async () => {
    const clock = createManualClock();
    const l = await listen(() => {}, { clock, drainTimeoutMs: 5000 });
    const session = connectHttp2(l.url);
    cleanups.push(() => session.destroy());
    const outcome = (p: Promise<unknown>) => p.then(() => "answered", () => "cut off");
    const stuck = outcome(h2(session, "/never", "x"));
    const h1Stuck = outcome(h1(l.url, "/never-h1"));
    await vi.waitFor(() => expect(l.connections).toBe(2));

    const closing = l.close();
    clock.advance(4999);
    expect(l.connections).toBe(2);
    clock.advance(1);
    await closing;
    expect(l.connections).toBe(0);
    expect(await stuck).toBe("cut off");
    expect(await h1Stuck).toBe("cut off");
  });

  it("closes connections that never send a byte after sniffTimeoutMs", async () => {
    const clock = createManualClock();
    const l = await listen(echo, { clock, sniffTimeoutMs: 1000 });
    const raw = connectNet(l.port, "127.0.0.1");
    cleanups.push(() => raw.destroy());
    raw.on("error", () => {});
    await vi.waitFor(() => expect(l.connections).toBe(1));
    clock.advance(999);
    expect(raw.destroyed).toBe(false);
    clock.advance(1);
    await closed(raw);
    await vi.waitFor(() => expect(l.connections).toBe(0));
  });

  it("validates its options", () => {
    expect(() => listenDualProtocol({ handler: undefined as never })).toThrow(/"handler"/);
    expect(() => listenDualProtocol({ handler: echo, port: 70_000 })).toThrow(/"port"/);
    expect(() => listenDualProtocol({ handler: echo, drainTimeoutMs: -1 })).toThrow(/"drainTimeoutMs"/);
    expect(() => listenDualProtocol({ handler: echo, tls: { cert: "x" } as never })).toThrow(/"tls"/);
  });

  it("serves HTTPS with HTTP/2 and HTTP/1.1 chosen by ALPN when given a certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tokenkit-tls-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    const cert = readFileSync(join(dir, "cert.pem"));
    const l = await listen(echo, { tls: { cert, key: readFileSync(join(dir, "key.pem")) } });
    expect(l.url).toBe(`https://127.0.0.1:${l.port}`);

    const session = connectHttp2(l.url, { ca: cert });
    cleanups.push(() => session.destroy());
    expect(await h2(session, "/tls-h2", "abc")).toEqual({ status: 200, body: "2.0 POST /tls-h2 3" });

    const viaH1 = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(`${l.url}/tls-h1`, { ca: cert, method: "POST" }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.end("de");
    });
    expect(viaH1).toBe("1.1 POST /tls-h1 2");
  });

  it("rejects when the port is taken", async () => {
    const l = await listen(echo);
    await expect(listenDualProtocol({ handler: echo, port: l.port })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});

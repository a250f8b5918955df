import { connect as connectHttp2, constants as h2c, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { connect as connectNet, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { listenDualProtocol, type DualProtocolListener, type DualProtocolListenerOptions, type DualProtocolRequestHandler } from "../../src/server/serve/dual-protocol-listener.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";

// Slow and silent clients against the listener's idle and request timeouts. Time-based
// behaviour runs on a manual clock; only the HTTP/1.1 checks (Node's own timers) use a
// short real timeout.

const IDLE = 60_000;
const REQUEST = 30_000;

/** echo answers once the whole request body has arrived. */
const echo: DualProtocolRequestHandler = (req, res) => {
  let bytes = 0;
  req.on("data", (c: Uint8Array) => (bytes += c.length));
  req.on("end", () => res.end(`got ${bytes}`));
};

/** watch answers at once and then streams forever (a WatchEvents stand-in). */
const watch: DualProtocolRequestHandler = (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/connect+proto" });
    res.write(new Uint8Array([0, 0, 0, 0, 0]));
  });
};

const listeners: DualProtocolListener[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  cleanups.splice(0).forEach((fn) => fn());
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listen(handler: DualProtocolRequestHandler, extra: Partial<DualProtocolListenerOptions> = {}): Promise<DualProtocolListener> {
  const l = await listenDualProtocol({ handler, port: 0, ...extra });
  listeners.push(l);
  return l;
}

async function h2session(l: DualProtocolListener): Promise<ClientHttp2Session> {
  const session = connectHttp2(l.url);
  cleanups.push(() => session.destroy());
  session.on("error", () => {});
  // The server's SETTINGS arrive once it set the session up (and armed its timers).
  await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
  return session;
}

/** open starts a POST whose body the test writes itself. */
function open(session: ClientHttp2Session, contentType = "application/proto"): ClientHttp2Stream {
  const stream = session.request({ ":method": "POST", ":path": "/slow", "content-type": contentType }, { endStream: false });
  stream.on("error", () => {});
  stream.resume();
  return stream;
}

/** written resolves once `bytes` left the client, so the server has them before the clock moves. */
async function send(stream: ClientHttp2Stream, bytes: Uint8Array, l: { seen: () => number }, want: number): Promise<void> {
  await new Promise<void>((resolve) => stream.write(bytes, () => resolve()));
  await vi.waitFor(() => expect(l.seen()).toBeGreaterThanOrEqual(want));
}

/** A handler that counts body bytes received across all requests, and never answers. */
function counting(): { handler: DualProtocolRequestHandler; seen: () => number } {
  let seen = 0;
  return { handler: (req) => req.on("data", (c: Uint8Array) => (seen += c.length)), seen: () => seen };
}

const closedStream = (stream: ClientHttp2Stream) =>
  new Promise<number>((resolve) => (stream.closed ? resolve(stream.rstCode ?? -1) : stream.once("close", () => resolve(stream.rstCode ?? -1))));
const closedSession = (session: ClientHttp2Session) => new Promise<void>((resolve) => (session.closed ? resolve() : session.once("close", () => resolve())));

describe("HTTP/2 idle sessions", () => {
  it("get GOAWAY after the idle timeout without a stream, and are released", async () => {
    const clock = createManualClock();
    const l = await listen(echo, { clock });
    const session = await h2session(l);
    const goaway = new Promise<number>((resolve) => session.once("goaway", (code: number) => resolve(code)));
    await vi.waitFor(() => expect(l.connections).toBe(1));
    clock.advance(IDLE - 1);
    expect(session.closed).toBe(false);
    clock.advance(1);
    expect(await goaway).toBe(h2c.NGHTTP2_NO_ERROR);
    await closedSession(session);
    await vi.waitFor(() => expect(l.connections).toBe(0));
  });

  it("count idle time from the last stream's end, and never cut a long response stream", async () => {
    const clock = createManualClock();
    const l = await listen(watch, { clock });
    const session = await h2session(l);
    clock.advance(IDLE - 1000);
    const stream = session.request({ ":method": "POST", ":path": "/watch" });
    stream.on("error", () => {});
    const first = new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.end("r");
    await first;
    // Hours of an open response: neither the idle nor the request timeout applies.
    for (let i = 0; i < 6; i++) {
      clock.advance(3_600_000);
    }
    await new Promise((r) => setImmediate(r));
    expect(stream.closed).toBe(false);
    expect(session.closed).toBe(false);
    stream.close(h2c.NGHTTP2_CANCEL);
    await closedStream(stream);
    await vi.waitFor(() => expect(clock.timers).toBeGreaterThan(0)); // the idle timer is armed again
    clock.advance(IDLE);
    await closedSession(session);
  });
});

describe("HTTP/2 requests that never finish arriving", () => {
  it("a header-only unary stream is reset (CANCEL) at the request timeout", async () => {
    const clock = createManualClock();
    let started = 0;
    const l = await listen((req, res) => {
      started++;
      echo(req, res);
    }, { clock });
    const session = await h2session(l);
    const stream = open(session);
    await vi.waitFor(() => expect(started).toBe(1));
    clock.advance(REQUEST - 1);
    expect(stream.closed).toBe(false);
    clock.advance(1);
    expect(await closedStream(stream)).toBe(h2c.NGHTTP2_CANCEL);
  });

  it("a unary body drip-fed one byte per 5 s is cut at the request timeout", async () => {
    const clock = createManualClock();
    const c = counting();
    const l = await listen(c.handler, { clock });
    const session = await h2session(l);
    const stream = open(session);
    for (let i = 1; i <= 5; i++) {
      await send(stream, new Uint8Array([i]), c, i);
      clock.advance(5_000);
    }
    expect(stream.closed).toBe(false); // 25 s in
    await send(stream, new Uint8Array([6]), c, 6);
    clock.advance(5_000);
    expect(await closedStream(stream)).toBe(h2c.NGHTTP2_CANCEL);
  });

  it("a client stream lives as long as each message arrives within the timeout", async () => {
    const clock = createManualClock();
    const c = counting();
    const l = await listen(c.handler, { clock });
    const session = await h2session(l);
    const stream = open(session, "application/connect+proto");
    // A 3-byte message every 20 s for 10 minutes, each split across two writes.
    for (let i = 0; i < 30; i++) {
      await send(stream, new Uint8Array([0, 0, 0, 0, 3, 1]), c, i * 8 + 6);
      await send(stream, new Uint8Array([2, 3]), c, i * 8 + 8);
      clock.advance(20_000);
    }
    expect(stream.closed).toBe(false);
    // Then a message drip-fed one byte per 5 s: cut 30 s after the last whole message.
    await send(stream, new Uint8Array([0]), c, 241);
    clock.advance(5_000);
    await send(stream, new Uint8Array([0]), c, 242);
    clock.advance(4_999);
    expect(stream.closed).toBe(false);
    clock.advance(1);
    expect(await closedStream(stream)).toBe(h2c.NGHTTP2_CANCEL);
  });

  it("a complete request is not bounded while the handler works on it", async () => {
    const clock = createManualClock();
    let answer: (() => void) | undefined;
    const l = await listen((req, res) => {
      req.resume();
      req.on("end", () => (answer = () => res.end("late")));
    }, { clock });
    const session = await h2session(l);
    const stream = open(session);
    const body = new Promise<string>((resolve) => {
      let text = "";
      stream.setEncoding("utf8");
      stream.on("data", (t: string) => (text += t));
      stream.on("end", () => resolve(text));
    });
    stream.end("whole");
    await vi.waitFor(() => expect(answer).toBeDefined());
    clock.advance(REQUEST * 10);
    answer!();
    expect(await body).toBe("late");
  });
});

describe("HTTP/1.1 slow clients (Node's own timers, short real timeouts)", () => {
  function raw(l: DualProtocolListener): Socket {
    const socket = connectNet(l.port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    socket.on("error", () => {});
    return socket;
  }
  const ended = (socket: Socket) =>
    new Promise<string>((resolve) => {
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (t: string) => (text += t));
      socket.once("close", () => resolve(text));
    });

  it("a request whose headers never finish gets 408 and is closed", async () => {
    const l = await listen(echo, { limits: { requestTimeoutMs: 300 } });
    const socket = raw(l);
    const response = ended(socket);
    socket.write("POST /slow HTTP/1.1\r\nHost: x\r\n");
    expect(await response).toMatch(/^HTTP\/1\.1 408 /);
    await vi.waitFor(() => expect(l.connections).toBe(0));
  });

  it("an idle keep-alive connection is closed after the idle timeout", async () => {
    const l = await listen(echo, { limits: { idleTimeoutMs: 200 } });
    const socket = raw(l);
    const response = ended(socket);
    socket.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await response).toMatch(/^HTTP\/1\.1 200 [^]*got 0/);
    await vi.waitFor(() => expect(l.connections).toBe(0));
  });
});

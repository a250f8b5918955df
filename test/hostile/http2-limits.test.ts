import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect as connectHttp2 } from "node:http2";
import { connect as connectNet, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { parseFlags } from "../../src/cli/flags.js";
import { SERVE_FLAGS, serveOptions } from "../../src/cli/serve-command.js";
import { createTokenkitServer } from "../../src/server/serve/server.js";
import { DEFAULT_CONNECTION_LIMITS, normalizeConnectionLimits } from "../../src/server/serve/connection-limits.js";
import { listenDualProtocol, type DualProtocolListener, type DualProtocolListenerOptions, type DualProtocolRequestHandler } from "../../src/server/serve/dual-protocol-listener.js";
import { createManualClock } from "../helpers/manual-clock.js";
import { cleanEnv, startServe, type ServeProcess } from "../cli/tokenkit-process.js";
import { ERROR, headerOnlyPosts, openRawH2 } from "./h2-frames.js";
import { healthCheck, openFds, openIdleSessions, rssMiB, watchServer } from "./h2-load.js";

const listeners: DualProtocolListener[] = [];
const cleanups: (() => void)[] = [];
let cleanupSockets: Socket[] = [];
afterEach(async () => {
  cleanups.splice(0).forEach((fn) => fn());
  cleanupSockets.splice(0).forEach((s) => s.destroy());
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listen(handler: DualProtocolRequestHandler, extra: Partial<DualProtocolListenerOptions> = {}): Promise<DualProtocolListener> {
  const l = await listenDualProtocol({ handler, port: 0, ...extra });
  listeners.push(l);
  return l;
}

/** ok answers every request at once, body unread. */
const ok: DualProtocolRequestHandler = (req, res) => {
  req.resume();
  res.end("ok");
};

describe("limits options", () => {
  it("default to values a public server can live with", () => {
    expect(normalizeConnectionLimits(undefined, "x")).toEqual(DEFAULT_CONNECTION_LIMITS);
    expect(DEFAULT_CONNECTION_LIMITS).toEqual({
      maxConcurrentStreams: 100,
      maxOpenStreams: 10_000,
      idleTimeoutMs: 60_000,
      requestTimeoutMs: 30_000,
      maxConnections: 10_000,
      maxConnectionsPerPeer: 256,
    });
    // A smaller server-wide cap lowers the default per-peer cap with it.
    expect(normalizeConnectionLimits({ maxConnections: 50 }, "x").maxConnectionsPerPeer).toBe(50);
  });

  it.each([
    [{ maxConcurrentStreams: 257 }, /"limits\.maxConcurrentStreams" must be an integer from 1 to 256/],
    [{ maxConcurrentStreams: 0 }, /"limits\.maxConcurrentStreams"/],
    [{ idleTimeoutMs: -1 }, /"limits\.idleTimeoutMs"/],
    [{ maxOpenStreams: 0 }, /"limits\.maxOpenStreams"/],
    [{ requestTimeoutMs: 1.5 }, /"limits\.requestTimeoutMs"/],
    [{ maxConnections: Number.NaN }, /"limits\.maxConnections"/],
    [{ maxConnectionsPerPeer: "9" }, /"limits\.maxConnectionsPerPeer"/],
    [{ maxStreams: 5 }, /"limits\.maxStreams" is unknown/],
  ])("reject %o at construction", (limits, message) => {
    expect(() => listenDualProtocol({ handler: ok, limits: limits as never })).toThrow(TypeError);
    expect(() => listenDualProtocol({ handler: ok, limits: limits as never })).toThrow(message);
  });

  it("are checked by createTokenkitServer before anything is opened", async () => {
    const dataDir = join(tmpdir(), `tokenkit-limits-${process.pid}-never-created`);
    await expect(createTokenkitServer({ dataDir, port: 0, limits: { maxConcurrentStreams: 1000 } })).rejects.toThrow(
      /^createTokenkitServer: option "limits\.maxConcurrentStreams" must be an integer from 1 to 256$/,
    );
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe("serve flags", () => {
  const limitsOf = (args: string[], env: Record<string, string> = {}) => serveOptions(parseFlags(SERVE_FLAGS, args, env), env).limits;

  it("set the limits, with TOKENKIT_* twins; unset flags leave the defaults", () => {
    expect(limitsOf([])).toBeUndefined();
    expect(
      limitsOf(["--max-concurrent-streams", "256", "--max-open-streams", "2000", "--idle-timeout", "2m", "--request-timeout", "10s", "--max-connections", "500"], {
        TOKENKIT_MAX_CONNECTIONS_PER_PEER: "20",
      }),
    ).toEqual({ maxConcurrentStreams: 256, maxOpenStreams: 2000, idleTimeoutMs: 120_000, requestTimeoutMs: 10_000, maxConnections: 500, maxConnectionsPerPeer: 20 });
  });

  it.each([
    [["--max-concurrent-streams", "257"], /--max-concurrent-streams must be a whole number from 1 to 256/],
    [["--max-connections", "0"], /--max-connections must be a whole number from 1/],
    [["--request-timeout", "0s"], /--request-timeout must be between 1s and 24h/],
    [["--idle-timeout", "soon"], /--idle-timeout must be a duration/],
  ])("name the flag of a bad value: %o", (args, message) => {
    expect(() => limitsOf(args)).toThrow(message);
  });

  it("name the environment twin when the value came from it", () => {
    expect(() => limitsOf([], { TOKENKIT_MAX_CONNECTIONS_PER_PEER: "-1" })).toThrow(/TOKENKIT_MAX_CONNECTIONS_PER_PEER must be a whole number/);
  });
});

describe("HTTP/2 streams per connection", () => {
  it("advertises SETTINGS_MAX_CONCURRENT_STREAMS 100 by default, or the configured bound", async () => {
    for (const [limits, want] of [[undefined, 100], [{ maxConcurrentStreams: 256 }, 256]] as const) {
      const l = await listen(ok, { limits });
      const session = connectHttp2(l.url);
      cleanups.push(() => session.destroy());
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) => session.once("remoteSettings", resolve));
      expect(settings.maxConcurrentStreams).toBe(want);
    }
  });

  it("refuses streams beyond it with REFUSED_STREAM, then drops a client that keeps opening them", async () => {
    let started = 0;
    const l = await listen((req, res) => {
      if (req.method === "GET") {
        res.end("ok"); // the bystander's health check
        return;
      }
      started++;
      req.resume(); // header-only: the body never comes
    });
    const raw = await openRawH2(l.port);
    cleanups.push(() => raw.socket.destroy());
    // 20 000 header-only POSTs at once, without waiting for the server's SETTINGS.
    raw.socket.write(headerOnlyPosts(20_000, "/tokenkit.v1.TokenService/RefreshToken"));
    await raw.closed;
    expect(raw.maxConcurrentStreams).toBe(100);
    expect(raw.resets.get(ERROR.REFUSED_STREAM) ?? 0).toBeGreaterThan(0);
    expect(raw.goaway).toBeDefined();
    expect(started).toBeLessThanOrEqual(100);
    // Every stream the server held is gone with the connection.
    await vi.waitFor(() => expect(l.connections).toBe(0));

    // Meanwhile nobody else was affected.
    const session = connectHttp2(l.url);
    cleanups.push(() => session.destroy());
    const answer = await new Promise<number>((resolve, reject) => {
      const s = session.request({ ":path": "/health" });
      s.on("response", (h) => resolve(Number(h[":status"])));
      s.on("error", reject);
      s.end();
    });
    expect(answer).toBe(200);
  });
});

describe("open streams across connections", () => {
  it("are capped server-wide: streams over the budget get REFUSED_STREAM, one log line, and the budget is given back", async () => {
    const clock = createManualClock();
    const warnings: string[] = [];
    let started = 0;
    const l = await listen((req) => {
      started++;
      req.resume();
    }, { clock, limits: { maxOpenStreams: 150 }, logger: { warn: (m) => warnings.push(m) } });
    const [a, b] = [await openRawH2(l.port), await openRawH2(l.port, "127.0.0.2")];
    cleanups.push(() => [a, b].forEach((r) => r.socket.destroy()));
    a.socket.write(headerOnlyPosts(100, "/a"));
    await vi.waitFor(() => expect(started).toBe(100));
    b.socket.write(headerOnlyPosts(100, "/b"));
    await vi.waitFor(() => expect(b.resets.get(ERROR.REFUSED_STREAM) ?? 0).toBe(50));
    expect(warnings).toEqual(["tokenkit: refusing streams: 150 open HTTP/2 streams reach --max-open-streams 150"]);
    expect(a.socket.destroyed || b.socket.destroyed).toBe(false);

    // The request timeout cuts the held streams and gives their budget back.
    clock.advance(DEFAULT_CONNECTION_LIMITS.requestTimeoutMs);
    await vi.waitFor(() => expect((a.resets.get(ERROR.CANCEL) ?? 0) + (b.resets.get(ERROR.CANCEL) ?? 0)).toBe(150));
    const before = started;
    b.socket.write(headerOnlyPosts(100, "/again", 201));
    await vi.waitFor(() => expect(started - before).toBe(100));
    expect(b.resets.get(ERROR.REFUSED_STREAM)).toBe(50);
  });
});

describe("connection caps", () => {
  function connectFrom(l: DualProtocolListener, localAddress: string): Socket {
    const socket = connectNet({ port: l.port, host: "127.0.0.1", localAddress });
    socket.on("error", () => {});
    cleanups.push(() => socket.destroy());
    return socket;
  }
  const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once("close", () => resolve())));

  it("refuse connections over the per-peer and server caps, with one rate-limited log line each", async () => {
    const clock = createManualClock();
    const warnings: string[] = [];
    const l = await listen(ok, { clock, limits: { maxConnections: 5, maxConnectionsPerPeer: 3 }, logger: { warn: (m) => warnings.push(m) } });
    const held = [1, 2, 3].map(() => connectFrom(l, "127.0.0.1"));
    await vi.waitFor(() => expect(l.connections).toBe(3));

    const refused = Array.from({ length: 20 }, () => connectFrom(l, "127.0.0.1"));
    await Promise.all(refused.map(closed));
    expect(l.connections).toBe(3);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/refusing connections: 127\.0\.0\.1 has 3 open connections, the --max-connections-per-peer cap/);

    // Another address is still served, up to the server-wide cap.
    const others = [connectFrom(l, "127.0.0.2"), connectFrom(l, "127.0.0.2")];
    await vi.waitFor(() => expect(l.connections).toBe(5));
    const overTotal = Array.from({ length: 10 }, () => connectFrom(l, "127.0.0.3"));
    await Promise.all(overTotal.map(closed));
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/refusing connections: 5 open connections reach --max-connections 5/);

    // One line per minute sums up the rest; nothing in between.
    clock.advance(59_999);
    expect(warnings).toHaveLength(2);
    clock.advance(1);
    expect(warnings.slice(2).sort()).toEqual([
      "tokenkit: refused 19 more connection(s) in the last 60 s: 127.0.0.1 has 3 open connections, the --max-connections-per-peer cap",
      "tokenkit: refused 9 more connection(s) in the last 60 s: 5 open connections reach --max-connections 5",
    ]);

    // Slots are released when clients leave.
    [...held, ...others].forEach((s) => s.destroy());
    await vi.waitFor(() => expect(l.connections).toBe(0));
    const again = [1, 2, 3].map(() => connectFrom(l, "127.0.0.1"));
    await vi.waitFor(() => expect(l.connections).toBe(3));
    again.forEach((s) => s.destroy());
  });
});

// Against a real `tokenkit serve` child (needs `npm run build`): what an attacker without a
// token can make it hold. Stated bounds, as growth over the server's own baseline (~75 MiB):
// the 20 000-stream flood < 100 MiB, 1 000 held streams < 200 MiB, 10 000 idle h2c sessions
// < 400 MiB (measured on a loaded 2-core machine: ~0, ~60 and ~230 MiB).
// Generous per-test timeouts: on a loaded 2-core machine 10 000 connections take a while to open.
const LOAD_TEST_TIMEOUT_MS = 180_000;

describe("tokenkit serve under a stream and session flood", () => {
  const ADMIN_KEY = "Hx3Pq8Vn2Wc6Rz1Kt9Ms4Lb7Jd0Fy5Ga8Ue2Io6Qw3E="; // random: serve refuses guessable keys
  let dir: string;
  let serve: ServeProcess | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tokenkit-h2-load-"));
  });
  let stopWatch: { stop(): Promise<unknown> } | undefined;
  afterEach(async () => {
    await stopWatch?.stop();
    stopWatch = undefined;
    await serve?.stop("SIGKILL");
    serve = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function start(args: string[]): Promise<ServeProcess> {
    serve = await startServe(["--store", "memory", "--port", "0", "--data-dir", dir, ...args], cleanEnv({ TOKENKIT_ADMIN_KEY: ADMIN_KEY }));
    await healthCheck(serve.port); // warm up
    return serve;
  }

  it("20 000 header-only streams on one connection: refused past the limit, bounded RSS, health answers, all released", async () => {
    const s = await start([]);
    const pid = s.child.pid!;
    const baseline = { rss: rssMiB(pid), fds: openFds(pid) };
    const watch = watchServer(pid, s.port);
    stopWatch = watch;
    const flood = await openRawH2(s.port);
    flood.socket.write(headerOnlyPosts(20_000, "/tokenkit.v1.TokenService/RefreshToken"));
    await flood.closed;
    await healthCheck(s.port);
    const { peakRssMiB, latencies, failures } = await watch.stop();

    expect(flood.maxConcurrentStreams).toBe(100);
    expect(flood.resets.get(ERROR.REFUSED_STREAM) ?? 0).toBeGreaterThan(0);
    expect(failures).toEqual([]);
    expect(peakRssMiB).toBeLessThan(baseline.rss + 100);
    await vi.waitFor(() => expect(openFds(pid)).toBeLessThanOrEqual(baseline.fds + 2), { timeout: 10_000 });
    console.log(`flood: baseline ${baseline.rss.toFixed(0)} MiB, peak ${peakRssMiB.toFixed(0)} MiB, health max ${Math.max(0, ...latencies).toFixed(0)} ms over ${latencies.length} checks`);
  }, LOAD_TEST_TIMEOUT_MS);

  it("10 connections × 100 header-only streams (within the limit) are cut by the request timeout and released", async () => {
    const s = await start(["--request-timeout", "3s"]);
    const pid = s.child.pid!;
    const baseline = { rss: rssMiB(pid), fds: openFds(pid) };
    const holders = await Promise.all(Array.from({ length: 10 }, (_, i) => openRawH2(s.port, `127.0.0.${2 + i}`)));
    cleanups.push(() => holders.forEach((h) => h.socket.destroy()));
    let peak = baseline.rss;
    holders.forEach((h) => h.socket.write(headerOnlyPosts(100, "/tokenkit.v1.TokenService/RefreshToken")));
    const cancelled = () => holders.reduce((n, h) => n + (h.resets.get(ERROR.CANCEL) ?? 0), 0);
    await vi.waitFor(
      () => {
        peak = Math.max(peak, rssMiB(pid));
        expect(cancelled()).toBe(1_000);
      },
      { timeout: 40_000, interval: 200 },
    );
    // The connections stay usable: the server cut the requests, not the sessions.
    expect(holders.every((h) => !h.socket.destroyed && h.goaway === undefined)).toBe(true);
    holders.forEach((h) => h.socket.destroy());
    expect(peak).toBeLessThan(baseline.rss + 200);
    await vi.waitFor(() => expect(openFds(pid)).toBeLessThanOrEqual(baseline.fds + 2), { timeout: 10_000 });
    await healthCheck(s.port);
    console.log(`held streams: baseline ${baseline.rss.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB`);
  }, LOAD_TEST_TIMEOUT_MS);

  it("10 000 idle h2c sessions: bounded RSS, health answers, descriptors released when the clients leave", async () => {
    const s = await start(["--max-connections", "10100"]);
    const pid = s.child.pid!;
    const baseline = { rss: rssMiB(pid), fds: openFds(pid) };
    const watch = watchServer(pid, s.port);
    stopWatch = watch;
    const sockets = await openIdleSessions(s.port, 10_000, 250);
    cleanupSockets = sockets;
    // The baseline can count a few short-lived descriptors (a health check's socket, a SQLite file
    // being checkpointed) that are gone by now: allow 32 of them, far below the 10 000 held sessions.
    await vi.waitFor(() => expect(openFds(pid)).toBeGreaterThanOrEqual(baseline.fds + 10_000 - 32), { timeout: 10_000, interval: 200 });
    await healthCheck(s.port);
    const { peakRssMiB, latencies, failures } = await watch.stop();
    sockets.forEach((socket) => socket.destroy());

    expect(failures).toEqual([]);
    expect(latencies.length).toBeGreaterThan(0);
    expect(peakRssMiB).toBeLessThan(baseline.rss + 400);
    await vi.waitFor(() => expect(openFds(pid)).toBeLessThanOrEqual(baseline.fds + 2), { timeout: 10_000, interval: 200 });
    await healthCheck(s.port);
    console.log(`idle: baseline ${baseline.rss.toFixed(0)} MiB, peak ${peakRssMiB.toFixed(0)} MiB, health max ${Math.max(...latencies).toFixed(0)} ms over ${latencies.length} checks`);
  }, LOAD_TEST_TIMEOUT_MS);
});

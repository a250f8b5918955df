import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as connectHttp2, type ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseFlags } from "../../src/cli/flags.js";
import { SERVE_FLAGS, serveOptions } from "../../src/cli/serve-command.js";
import { usageMessage } from "../cli/usage-message.js";
import { EventSchema, EventService } from "../../gen/tokenkit/v1/event_service_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { envelope } from "../helpers/raw-rpc.js";
import { ALL_SCOPES, event, startSessionServer, type SessionServer } from "../services/session-server.js";

describe("concurrent watches per subject are capped", () => {
  let s: SessionServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  /** Opens a watch and resolves once the server sent it the first stored event (so it is registered). */
  async function openWatch(client: Client<typeof EventService>) {
    const abort = new AbortController();
    const it = client.watchEvents({}, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      await it.next();
    } catch (err) {
      return { error: ConnectError.from(err), close: () => abort.abort() };
    }
    return { error: undefined, close: () => abort.abort() };
  }

  it("the 33rd watch of one subject (default 32) is ResourceExhausted naming the limit; other subjects and freed slots are fine", async () => {
    s = await startSessionServer();
    const alice = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    const bob = s.events((await s.issue("bob", ALL_SCOPES)).accessToken);
    await alice.ingestEvents({ events: [event("a1")] });
    await bob.ingestEvents({ events: [event("b1")] });
    const open = [];
    for (let i = 0; i < 32; i++) {
      const w = await openWatch(alice);
      expect(w.error, `watch ${i}`).toBeUndefined();
      open.push(w);
    }
    const extra = await openWatch(alice);
    expect(extra.error?.code).toBe(Code.ResourceExhausted);
    expect(extra.error?.message).toMatch(/32 open watches, the limit per subject \(tokenkit serve --max-watches-per-subject\)/);
    const other = await openWatch(bob);
    expect(other.error).toBeUndefined();

    open.pop()!.close();
    // The server notices the cancel asynchronously; the slot comes back within a few tries.
    let again = await openWatch(alice);
    for (let i = 0; i < 50 && again.error?.code === Code.ResourceExhausted; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await openWatch(alice);
    }
    expect(again.error).toBeUndefined();
    for (const w of [...open, other, again]) w.close();
  });

  it("tokenkit serve --max-watches-per-subject (and TOKENKIT_MAX_WATCHES_PER_SUBJECT) sets it; bad values name the flag", () => {
    const opts = (args: string[], env: Record<string, string> = {}) => serveOptions(parseFlags(SERVE_FLAGS, args, env), env);
    expect(opts(["--max-watches-per-subject", "5"]).sessionServices).toEqual({ maxWatchesPerSubject: 5 });
    expect(opts([], { TOKENKIT_MAX_WATCHES_PER_SUBJECT: "7" }).sessionServices).toEqual({ maxWatchesPerSubject: 7 });
    expect(opts(["--max-watches-per-subject", "5", "--heartbeat-interval", "1m"]).sessionServices).toEqual({ maxWatchesPerSubject: 5, heartbeatIntervalSeconds: 60 });
    expect(opts([]).sessionServices).toBeUndefined();
    for (const bad of ["0", "-1", "1.5", "many", "100001"]) {
      expect(usageMessage(() => opts(["--max-watches-per-subject", bad]))).toContain("--max-watches-per-subject");
    }
    expect(usageMessage(() => opts([], { TOKENKIT_MAX_WATCHES_PER_SUBJECT: "0" }))).toContain("TOKENKIT_MAX_WATCHES_PER_SUBJECT");
  });

  it("takes the limit from the server options", async () => {
    s = await startSessionServer({ sessionServices: { maxWatchesPerSubject: 2 } });
    const alice = s.events((await s.issue("alice", ALL_SCOPES)).accessToken);
    await alice.ingestEvents({ events: [event("a1")] });
    const a = await openWatch(alice);
    const b = await openWatch(alice);
    expect([a.error, b.error]).toEqual([undefined, undefined]);
    const c = await openWatch(alice);
    expect(c.error?.code).toBe(Code.ResourceExhausted);
    expect(c.error?.message).toMatch(/2 open watches/);
    a.close();
    b.close();
  });
});

// The issue: 50 never-reading WatchEvents over a 21 MB backlog added 743 MB to the server and
// kept 870 MB after they left. A page is now bounded by bytes (256 KiB by default), so each
// blocked watcher pins about one page plus the HTTP/2 buffers: the bound asserted below is 2 MiB
// per watcher, a tenth of what one page of the old 256-event pages held at 60 KB per event.
describe("never-reading watchers over a large backlog", () => {
  const WATCHERS = 50;
  const EVENTS = 350; // × ~60 KB ≈ 21 MB of backlog
  const PER_WATCHER_BOUND = 2 * 1024 * 1024;
  const ADMIN = "watch-memory-admin-key-0123456789";
  let dir: string;
  let child: ChildProcess;
  let url: string;
  let token: string;

  function ask<T>(message: string, key: string): Promise<T> {
    return new Promise((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          child.off("message", on);
          resolve(m[key] as T);
        }
      };
      child.on("message", on);
      child.send(message);
    });
  }
  const held = async () => {
    const m = await ask<NodeJS.MemoryUsage>("memory", "memory");
    return { js: m.heapUsed + m.external, rss: m.rss };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tokenkit-watch-memory-"));
    const script = fileURLToPath(new URL("./fixtures/memory-probe-server.mjs", import.meta.url));
    child = fork(script, [dir, ADMIN, String(WATCHERS)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    url = await new Promise<string>((resolve, reject) => {
      child.once("message", (m: { url: string }) => resolve(m.url));
      child.once("exit", (code) => reject(new Error(`memory probe server exited with ${code}`)));
    });
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true });
    const pair = (await createClient(TokenService, transport).issueToken({ subject: "load", scopes: ALL_SCOPES }, { headers: { "x-api-key": ADMIN } })).tokenPair!;
    token = pair.accessToken;
    const events = createClient(EventService, transport);
    const blob = "x".repeat(60_000);
    for (let i = 0; i < EVENTS; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) => create(EventSchema, { id: `e${i + j}`, type: "bulk", data: { blob } }));
      await events.ingestEvents({ events: batch }, { headers: { authorization: `Bearer ${token}` } });
    }
    expect(toBinary(EventSchema, create(EventSchema, { id: "e0", type: "bulk", data: { blob } })).byteLength).toBeGreaterThan(60_000);
  });

  afterAll(async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.send("close");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    child.kill();
    await rm(dir, { recursive: true, force: true });
  }, 10_000);

  /**
   * Opens `n` JSON watches from sequence 0, each on its own connection, reads the first chunk of
   * each (to tell a streaming watch from a refused one), then never reads again.
   */
  async function openStalled(n: number): Promise<{ sessions: ClientHttp2Session[]; firsts: string[] }> {
    const sessions: ClientHttp2Session[] = [];
    const firsts: Promise<string>[] = [];
    for (let i = 0; i < n; i++) {
      const session = connectHttp2(url);
      session.on("error", () => {});
      sessions.push(session);
      const stream = session.request({
        ":method": "POST",
        ":path": `/${EventService.typeName}/WatchEvents`,
        "content-type": "application/connect+json",
        "connect-protocol-version": "1",
        authorization: `Bearer ${token}`,
      });
      stream.on("error", () => {});
      firsts.push(
        new Promise((resolve) =>
          stream.once("data", (chunk: Buffer) => {
            stream.pause(); // from here on, never read: the server meets HTTP/2 flow control and blocks
            // A message (flag 0) means the watch streams; an end-stream (flag 2) carries its error.
            resolve(chunk[0] === 0 ? "streaming" : (JSON.parse(chunk.subarray(5).toString("utf8")) as { error: { code: string } }).error.code);
          }),
        ),
      );
      stream.end(envelope(new TextEncoder().encode("{}")));
    }
    return { sessions, firsts: await Promise.all(firsts) };
  }

  it(`${WATCHERS} of them hold under 2 MiB each, all of it is released when they leave, and one more is refused`, async () => {
    const before = await held();
    const { sessions, firsts } = await openStalled(WATCHERS);
    expect(firsts).toEqual(Array(WATCHERS).fill("streaming"));
    const during = await held();
    const grewJs = during.js - before.js;
    const grewRss = during.rss - before.rss;
    console.log(`watch memory: ${WATCHERS} stalled watchers: JS heap+external +${(grewJs / 2 ** 20).toFixed(1)} MiB, RSS +${(grewRss / 2 ** 20).toFixed(1)} MiB`);
    expect(grewJs).toBeLessThan(WATCHERS * PER_WATCHER_BOUND);
    expect(grewRss).toBeLessThan(WATCHERS * PER_WATCHER_BOUND);

    for (const s of sessions) s.destroy();
    // The server sees the connections go asynchronously: poll (bounded) until it let go.
    let after = await held();
    for (let i = 0; i < 50 && after.js - before.js > 8 * 2 ** 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await held();
    }
    console.log(`watch memory: after they left: JS heap+external ${((after.js - before.js) / 2 ** 20).toFixed(1)} MiB over the start`);
    expect(after.js - before.js).toBeLessThan(8 * 2 ** 20);

    // Every watch slot came back too: the subject may open its whole quota again, and no more.
    const again = await openStalled(WATCHERS);
    const extra = await openStalled(1);
    try {
      expect(again.firsts).toEqual(Array(WATCHERS).fill("streaming"));
      expect(extra.firsts).toEqual(["resource_exhausted"]);
    } finally {
      for (const s of [...again.sessions, ...extra.sessions]) s.destroy();
    }
  }, 120_000);
});

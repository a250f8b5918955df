// Client rows: the interceptor's hot path, refresh coalescing, and latency across a refresh boundary.
// `hot-path-h2c` calls a Heartbeat server in its own process (this file, run with --h2c-server), like
// the server rows do: the row measures what the client pays for the interceptor and its header. In one
// process the server's work shares the client's event loop and core, and a bearer token costs the
// server too (nghttp2 never indexes `authorization` in HPACK, so every call carries the 400-byte
// token, which the server Huffman-decodes and copies into a Headers object): that is the price of
// bearer auth itself, paid by any bearer client, and `hot-path-own` isolates tokenkit's share of it.
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http2";
import { pathToFileURL } from "node:url";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { HeartbeatService, createAuthInterceptor, createTokenSource } from "../dist/src/index.js";
import { interleave, percentile, row, throughput } from "./lib.js";

const HOUR = 3_600_000;
const routes = (router) => router.service(HeartbeatService, { heartbeat: () => ({}) });
const fresh = () => ({ accessToken: "T".repeat(400), refreshToken: "r", receivedAt: Date.now(), expiresAt: Date.now() + HOUR });
const never = async () => { throw new Error("no refresh expected"); };

async function hotPath({ quick }) {
  const ms = quick ? 300 : 1000;
  const rounds = quick ? 3 : 7;
  const source = createTokenSource({ refresh: never, initial: fresh() });
  const auth = [createAuthInterceptor(source)];
  const rows = [];
  // In-process router transport: isolates the interceptor's own cost.
  const plainRouter = createClient(HeartbeatService, createRouterTransport(routes));
  const authRouter = createClient(HeartbeatService, createRouterTransport(routes, { transport: { interceptors: auth } }));
  const r1 = await interleave(rounds, () => throughput(() => authRouter.heartbeat({}), { concurrency: 16, ms }), () => throughput(() => plainRouter.heartbeat({}), { concurrency: 16, ms }));
  rows.push(row("hot-path", "Unary calls/s with a fresh cached token, createRouterTransport (baseline: no interceptor)", r1.tokenkit, r1.baseline, "calls/s", "ratio ≥ 0.97", r1.tokenkit / r1.baseline >= 0.97));
  // The same, against the least any bearer interceptor must do: set the header. Isolates tokenkit's own cost.
  const bearer = `Bearer ${fresh().accessToken}`;
  const minimal = createClient(HeartbeatService, createRouterTransport(routes, { transport: { interceptors: [(next) => (req) => { req.header.set("authorization", bearer); return next(req); }] } }));
  const r0 = await interleave(rounds, () => throughput(() => authRouter.heartbeat({}), { concurrency: 16, ms }), () => throughput(() => minimal.heartbeat({}), { concurrency: 16, ms }));
  rows.push(row("hot-path-own", "Unary calls/s, createRouterTransport (baseline: an interceptor that only sets the same header)", r0.tokenkit, r0.baseline, "calls/s", "ratio ≥ 0.97", r0.tokenkit / r0.baseline >= 0.97));
  // h2c loopback, server in its own process.
  const server = await startH2cServer();
  try {
    const plainH2 = createClient(HeartbeatService, createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true }));
    const authH2 = createClient(HeartbeatService, createConnectTransport({ baseUrl: server.url, httpVersion: "2", useBinaryFormat: true, interceptors: auth }));
    const r2 = await interleave(rounds, () => throughput(() => authH2.heartbeat({}), { concurrency: 16, ms }), () => throughput(() => plainH2.heartbeat({}), { concurrency: 16, ms }));
    rows.push(row("hot-path-h2c", "Unary calls/s with a fresh cached token, h2c loopback, server in its own process (baseline: no interceptor)", r2.tokenkit, r2.baseline, "calls/s", "ratio ≥ 0.97", r2.tokenkit / r2.baseline >= 0.97));
  } finally {
    await server.stop();
  }
  return rows;
}

/** startH2cServer runs the Heartbeat h2c server (this file with --h2c-server) in a child process. */
async function startH2cServer() {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, "--h2c-server"], { stdio: ["ignore", "pipe", "inherit"] });
  const [chunk] = await once(child.stdout, "data");
  const port = Number(/port (\d+)/.exec(String(chunk))[1]);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

async function coalescing() {
  // 10 000 concurrent calls at once, with the token expiring right then (tokenkit) and with a fresh token (baseline).
  const burst = async (source) => {
    const client = createClient(HeartbeatService, createRouterTransport(routes, { transport: { interceptors: [createAuthInterceptor(source)] } }));
    const latencies = [];
    await Promise.all(
      Array.from({ length: 10_000 }, async () => {
        const t = performance.now();
        await client.heartbeat({});
        latencies.push(performance.now() - t);
      }),
    );
    return percentile(latencies, 99);
  };
  let refreshes = 0;
  const expiring = createTokenSource({
    refresh: async () => {
      refreshes++;
      await new Promise((r) => setTimeout(r, 20));
      return fresh();
    },
    initial: { accessToken: "old", refreshToken: "r", receivedAt: Date.now() - HOUR, expiresAt: Date.now() },
  });
  const p99 = await burst(expiring);
  const baselineP99 = await burst(createTokenSource({ refresh: never, initial: fresh() }));
  return [
    row("coalescing", "Refresh RPCs for 10 000 concurrent calls issued the instant the token expires (baseline: calls)", refreshes, 10_000, "RPCs", "exactly 1", refreshes === 1),
    row("coalescing-p99", "p99 ms of those 10 000 calls, refresh takes 20 ms (baseline: same burst, fresh token)", p99, baselineP99, "ms", null, null),
  ];
}

async function boundary({ quick }) {
  const n = quick ? 400 : 2000;
  const delay = 200;
  const slowRefresh = async () => {
    await new Promise((r) => setTimeout(r, delay));
    return fresh();
  };
  const stale = () => ({ accessToken: "T".repeat(400), refreshToken: "r", receivedAt: Date.now() - 50 * 60_000, expiresAt: Date.now() + 10 * 60_000 });
  // tokenkit: past the refresh point, the token is served while the refresh runs.
  const tk = createTokenSource({ refresh: slowRefresh, initial: stale() });
  // Naive baseline: an interceptor that awaits the refresh whenever the token is past its refresh point.
  let naiveToken = stale();
  let naiveInflight;
  const naive = (next) => async (req) => {
    if (Date.now() >= naiveToken.receivedAt + 0.75 * (naiveToken.expiresAt - naiveToken.receivedAt)) {
      naiveInflight ??= slowRefresh().then((t) => { naiveToken = t; naiveInflight = undefined; });
      await naiveInflight;
    }
    req.header.set("authorization", `Bearer ${naiveToken.accessToken}`);
    return next(req);
  };
  const clients = {
    tokenkit: createClient(HeartbeatService, createRouterTransport(routes, { transport: { interceptors: [createAuthInterceptor(tk)] } })),
    naive: createClient(HeartbeatService, createRouterTransport(routes, { transport: { interceptors: [naive] } })),
    none: createClient(HeartbeatService, createRouterTransport(routes)),
  };
  const p99 = async (client) => {
    const lat = [];
    // Calls spread over the 200 ms while the refresh is in flight.
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await new Promise((r) => setTimeout(r, (i / n) * delay));
        const t = performance.now();
        await client.heartbeat({});
        lat.push(performance.now() - t);
      }),
    );
    return percentile(lat, 99);
  };
  const none = await p99(clients.none);
  const tokenkit = await p99(clients.tokenkit);
  const naiveP99 = await p99(clients.naive);
  return [
    row("boundary-p99", `p99 ms of calls during a ${delay} ms proactive refresh (baseline: naive awaiting interceptor; no-refresh p99 ${none.toFixed(2)} ms)`, tokenkit, naiveP99, "ms", "≤ no-refresh p99 + 5 ms", tokenkit <= none + 5),
  ];
}

export async function clientRows({ quick }) {
  return [...(await hotPath({ quick })), ...(await coalescing()), ...(await boundary({ quick }))];
}

// node bench/client.js --h2c-server: the Heartbeat server of `hot-path-h2c`; prints "port <n>" when ready.
if (process.argv[2] === "--h2c-server" && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = createServer(connectNodeAdapter({ routes }));
  server.listen(0, "127.0.0.1", () => console.log(`port ${server.address().port}`));
  process.on("SIGTERM", () => process.exit(0));
}

// HTTP/1.1 refresh rows: refresh-token rotations/s through Node's global `fetch` (undici,
// keep-alive) with 32 concurrent refresh chains, tokenkit `serve` (memory and SQLite store) against
// panva's oidc-provider (EdDSA JWT access tokens, rotation, memory adapter), each server in its own
// process and one load generator in this one. Each step posts the chain's current refresh token and
// keeps the new one; a step that fails or returns the same token is an error, and any error fails
// the run instead of being counted as throughput.
import { readFileSync } from "node:fs";
import { median, row, spawnServer, startServeProcess } from "./lib.js";

/** CHAINS is the number of concurrent refresh chains, as in the issue's measurement. */
export const CHAINS = 32;
const ADMIN_KEY = "bench-admin-key-0123456789";
const REFRESH_PATH = "/tokenkit.v1.TokenService/RefreshToken";
const ISSUE_PATH = "/tokenkit.v1.TokenService/IssueToken";
const OIDC_PROVIDER_VERSION = JSON.parse(readFileSync(new URL("../node_modules/oidc-provider/package.json", import.meta.url), "utf8")).version;

/** ENCODINGS are the two request variants: fetch's own accept-encoding, and `identity` (no compression). */
export const ENCODINGS = { default: {}, identity: { "accept-encoding": "identity" } };

/**
 * startTokenkit runs bench/server-process.js (the real `createTokenkitServer` bootstrap) with `store`
 * in a fresh data directory and issues CHAINS refresh tokens over Connect JSON. Returns a target.
 */
export async function startTokenkit(store, { nodeArgs = [] } = {}) {
  const server = await startServeProcess(store, [], { nodeArgs });
  const tokens = [];
  try {
    for (let i = 0; i < CHAINS; i++) {
      const res = await fetch(server.url + ISSUE_PATH, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": ADMIN_KEY },
        body: JSON.stringify({ subject: `bench-${i}`, scopes: ["api:read", "api:write"] }),
      });
      const body = await res.json();
      if (res.status !== 200 || typeof body.tokenPair?.refreshToken !== "string") throw new Error(`tokenkit IssueToken answered HTTP ${res.status} (${body.code ?? "no code"})`);
      tokens.push(body.tokenPair.refreshToken);
    }
  } catch (e) {
    await server.stop();
    throw e;
  }
  return {
    name: `tokenkit ${store}`,
    tokens,
    server,
    /** refresh posts one Connect unary JSON RefreshToken and resolves to the successor refresh token. */
    async refresh(token, headers) {
      const res = await fetch(server.url + REFRESH_PATH, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ refreshToken: token }),
      });
      const body = await res.json();
      if (res.status !== 200) throw new Error(`HTTP ${res.status} (${body.code ?? "no code"})`);
      if (typeof body.tokenPair?.accessToken !== "string") throw new Error("no access token in the answer");
      return body.tokenPair.refreshToken;
    },
    stop: () => server.stop(),
  };
}

/** startOidcProvider runs bench/oidc-provider-process.js and returns a target holding its CHAINS initial refresh tokens. */
export async function startOidcProvider() {
  const server = await spawnServer("./oidc-provider-process.js", [String(CHAINS)]);
  const { tokenPath, clientId, clientSecret, refreshTokens } = server.info;
  const authorization = "Basic " + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64");
  return {
    name: "oidc-provider",
    tokens: refreshTokens,
    server,
    /** refresh posts one form-encoded refresh_token grant and resolves to the rotated refresh token. */
    async refresh(token, headers) {
      const res = await fetch(server.url + tokenPath, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization, ...headers },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: token }).toString(),
      });
      const body = await res.json();
      if (res.status !== 200) throw new Error(`HTTP ${res.status} (${body.error ?? "no error code"})`);
      if (typeof body.access_token !== "string") throw new Error("no access token in the answer");
      return body.refresh_token;
    },
    stop: () => server.stop(),
  };
}

/**
 * load runs CHAINS refresh chains against `target` for `ms` with `headers` and returns rotations/s.
 * Every step must return a new refresh token; failures are counted, and any failure throws after the
 * round (with the count and the first reason, never token text).
 */
export async function load(target, { ms, headers = {}, stats }) {
  let count = 0;
  let errors = 0;
  let firstError;
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    target.tokens.map(async (_, w) => {
      while (performance.now() < deadline) {
        const old = target.tokens[w];
        try {
          const next = await target.refresh(old, headers);
          if (typeof next !== "string" || next.length === 0) throw new Error("no refresh token in the answer");
          if (next === old) throw new Error("the refresh token did not rotate");
          target.tokens[w] = next;
          count++;
        } catch (e) {
          errors++;
          firstError ??= e;
          return; // this chain's token is now unknown; stop it rather than hammer with a dead token.
        }
      }
    }),
  );
  const elapsed = performance.now() - start;
  if (errors > 0) throw new Error(`${target.name}: ${errors} of ${count + errors} refreshes failed; first: ${firstError.message}`);
  if (stats !== undefined) stats.count = count;
  return (count * 1000) / elapsed;
}

/**
 * processCpuMs is the CPU time (user + system) process `pid` has used, in ms, from Linux's
 * /proc/<pid>/stat (USER_HZ = 100 ticks per second); undefined where there is no /proc.
 */
export function processCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/** measured runs one round of `load` and returns { rate, cpuUsPerOp }: rotations/s and the server's CPU µs per rotation. */
async function measured(target, options) {
  const pid = target.server.child.pid;
  const before = processCpuMs(pid);
  const stats = {};
  const rate = await load(target, { ...options, stats });
  const after = processCpuMs(pid);
  return { rate, cpuUsPerOp: before === undefined || after === undefined || stats.count === 0 ? undefined : ((after - before) * 1000) / stats.count };
}

/**
 * http1Rows measures the HTTP/1.1 refresh rows; `quick` is the smoke mode (~0.5 s × 2 rounds). `log`, when
 * given, receives one line per configuration with its per-round samples.
 */
export async function http1Rows({ quick, log }) {
  const ms = quick ? 500 : 6000;
  const warm = quick ? 300 : 1500;
  const rounds = quick ? 2 : 3;
  const targets = [];
  try {
    // Sequential starts: the servers then share the machine only while measured, one at a time.
    targets.push(await startOidcProvider());
    targets.push(await startTokenkit("sqlite"));
    targets.push(await startTokenkit("memory"));
    const [op, sqlite, memory] = targets;
    const configs = [];
    for (const [encoding, headers] of Object.entries(ENCODINGS)) {
      for (const target of [op, sqlite, memory]) configs.push({ key: `${target.name}/${encoding}`, target, headers, samples: [], cpu: [] });
    }
    for (const c of configs) await load(c.target, { ms: warm, headers: c.headers });
    // Interleaved: each round visits every configuration once (oidc-provider, SQLite, memory; per encoding).
    for (let r = 0; r < rounds; r++) {
      for (const c of configs) {
        const { rate, cpuUsPerOp } = await measured(c.target, { ms, headers: c.headers });
        c.samples.push(rate);
        if (cpuUsPerOp !== undefined) c.cpu.push(cpuUsPerOp);
      }
    }
    for (const c of configs) log?.(`${c.key}: ${c.samples.map((x) => x.toFixed(1)).join(" ")} rotations/s; server CPU ${c.cpu.map((x) => x.toFixed(0)).join(" ")} µs per rotation`);
    const med = Object.fromEntries(configs.map((c) => [c.key, median(c.samples)]));
    const cpu = Object.fromEntries(configs.filter((c) => c.cpu.length > 0).map((c) => [c.key, median(c.cpu)]));
    const mk = (id, store, encoding, target) => {
      const tk = med[`tokenkit ${store}/${encoding}`];
      const base = med[`oidc-provider/${encoding}`];
      const label = store === "sqlite" ? "SQLite" : "memory";
      const enc = encoding === "default" ? "fetch's default accept-encoding" : "accept-encoding: identity";
      return row(id, `RefreshToken rotations/s, HTTP/1.1 fetch keep-alive, ${CHAINS} chains, ${label}, ${enc} (baseline: oidc-provider ${OIDC_PROVIDER_VERSION}, same run)`, tk, base, "ops/s", target, target ? tk / base >= 1.5 : null);
    };
    // The server's own cost: CPU µs per rotation of each server process, lower is better. On two cores
    // the load generator (fetch) costs about as much per call as a server, so throughput ratios are
    // squeezed towards 1; this row shows what each rotation costs the server itself.
    const cpuRow = (id, store) => {
      const tk = cpu[`tokenkit ${store}/default`];
      const base = cpu["oidc-provider/default"];
      if (tk === undefined || base === undefined) return [];
      const label = store === "sqlite" ? "SQLite" : "memory";
      return [row(id, `Server CPU µs per rotation, HTTP/1.1, ${label}, fetch's default accept-encoding (baseline: oidc-provider ${OIDC_PROVIDER_VERSION}, same run; lower is better)`, tk, base, "µs/op", "ratio ≤ 0.67 (1.5× cheaper)", tk / base <= 1 / 1.5)];
    };
    return [
      mk("http1-refresh-sqlite", "sqlite", "default", "ratio ≥ 1.5"),
      mk("http1-refresh-memory", "memory", "default", null),
      mk("http1-refresh-sqlite-identity", "sqlite", "identity", null),
      mk("http1-refresh-memory-identity", "memory", "identity", null),
      ...cpuRow("http1-cpu-sqlite", "sqlite"),
      ...cpuRow("http1-cpu-memory", "memory"),
    ];
  } finally {
    for (const t of targets) await t.stop();
  }
}

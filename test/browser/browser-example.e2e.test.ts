import type { Stats as PageStats } from "../../examples/browser/src/main.js";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService, type RefreshTokenResponse } from "../../gen/tokenkit/v1/token_service_pb.js";
import { buildBrowserExample } from "../../examples/browser/build.mjs";
import { createTokenkitServer, type TokenkitServer } from "../../src/server/serve/server.js";
import { createMemoryFamilyStore } from "../../src/server/store/memory-family-store.js";
import type { FamilyStore } from "../../src/server/store/family-store.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { vi } from "vitest";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createBearerAuthInterceptor } from "../../src/server/bearer-auth-interceptor.js";
import { createAccessTokenVerifier } from "../../src/server/jwt/access-token-verifier.js";
import { createCorsHandler } from "../../src/server/serve/cors-handler.js";
import { createDateClock, type DateClock } from "../oauth/date-clock.js";
import { API, CLIENTS, startOidcProvider } from "../oauth/oidc-provider-fixture.js";

/**
 * The browser example end to end: headless Chromium (Debian's `chromium`,
 * driven by playwright-core) runs tabs of examples/browser against a real
 * in-process `tokenkit serve` on another origin (CORS). Time is fake on both
 * sides and moved in 1 s steps: Playwright's context clock for the pages,
 * a manual clock for the server. So a minute of session takes seconds.
 */

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const ADMIN_KEY = "browser-example-e2e-admin-key";
const ACCESS_TTL_S = 10;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const ARTIFACTS = resolve("test-artifacts");


/** Counts what reached the token server. */
interface ServerCounts {
  refreshRpcs: number;
  refreshFailures: string[];
  rotatedTo: Set<string>;
  /** rotationTimes are the server-clock times of successful rotations. */
  rotationTimes: number[];
  heartbeats: number;
  heartbeatFailures: string[];
}

let browser: Browser;
let pageServer: TokenkitServer;
let siteDir: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
  }
  siteDir = await mkdtemp(join(tmpdir(), "tokenkit-browser-example-"));
  await buildBrowserExample({ outdir: siteDir });
  // The page's own origin: `tokenkit serve --static` (no sessions, only files).
  pageServer = await createTokenkitServer({ port: 0, store: "memory", adminKey: ADMIN_KEY, staticDir: siteDir, sessionServices: false });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
});

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  if (siteDir) await rm(siteDir, { recursive: true, force: true });
});

/** A real token server (memory store, 10 s access tokens, no grace window) on its own origin, on a manual clock. */
async function startApi(clock: ManualClock) {
  const counts: ServerCounts = { refreshRpcs: 0, refreshFailures: [], rotatedTo: new Set(), rotationTimes: [], heartbeats: 0, heartbeatFailures: [] };
  const counter: Interceptor = (next) => async (req) => {
    const name = req.method.name;
    if (name === "RefreshToken") counts.refreshRpcs++;
    if (name === "Heartbeat") counts.heartbeats++;
    try {
      const res = await next(req);
      if (name === "RefreshToken" && !res.stream) {
        counts.rotatedTo.add((res.message as RefreshTokenResponse).tokenPair!.refreshToken);
        counts.rotationTimes.push(clock.now());
      }
      return res;
    } catch (err) {
      (name === "RefreshToken" ? counts.refreshFailures : counts.heartbeatFailures).push(String((err as Error).message));
      throw err;
    }
  };
  const store: FamilyStore = createMemoryFamilyStore();
  const api = await createTokenkitServer({
    clock,
    port: 0,
    store,
    adminKey: ADMIN_KEY,
    accessTtlSeconds: ACCESS_TTL_S,
    // No grace window: a second rotation of any refresh token revokes the family at once.
    gracePeriodSeconds: 0,
    // A token used more than 1 s after its expiry fails (the default tolerance is 60 s).
    clockToleranceSeconds: 1,
    corsOrigins: [pageServer.url],
    interceptors: [counter],
  });
  return { api, store, counts };
}

/** The login a real app's sign-in flow would deliver: here IssueToken with the admin key, as a URL fragment. */
async function issueLogin(api: TokenkitServer): Promise<{ fragment: string; sid: string }> {
  const tokens = createClient(TokenService, createConnectTransport({ baseUrl: api.url, httpVersion: "1.1" }));
  const { tokenPair } = await tokens.issueToken(
    { subject: "browser-user", scopes: ["heartbeat:write"], refreshTokenTtlSeconds: 3600n },
    { headers: { "x-api-key": ADMIN_KEY } },
  );
  const p = tokenPair!;
  const fragment = new URLSearchParams({
    access_token: p.accessToken,
    refresh_token: p.refreshToken,
    expires_in: String(p.expiresInSeconds),
    refresh_expires_in: String(p.refreshTokenTtlSeconds),
    session_id: p.sessionId,
  }).toString();
  return { fragment, sid: p.sessionId };
}

const stats = (page: Page): Promise<PageStats> => page.evaluate(() => (window as unknown as { tokenkitExample: PageStats }).tokenkitExample);

/** Waits (in real time, bounded) until no page has a call or refresh in flight. */
async function settle(pages: Page[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pending = await Promise.all(pages.map((p) => p.evaluate(() => (window as unknown as { tokenkitExample: PageStats }).tokenkitExample.pending)));
    if (pending.every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`pages still busy: ${pending.join(", ")}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Moves server and pages forward together, one second at a time, letting each second's calls finish. */
async function runSession(context: BrowserContext, clock: ManualClock, pages: Page[], seconds: number): Promise<void> {
  for (let s = 0; s < seconds; s++) {
    clock.advance(1000);
    await context.clock.runFor(1000);
    await settle(pages);
  }
}

async function openTabs(context: BrowserContext, url: string, fragment: string, n: number): Promise<Page[]> {
  // The first tab logs in; the others open the app afterwards and find the session in localStorage.
  const first = await context.newPage();
  await first.goto(`${url}#${fragment}`);
  await first.waitForSelector("body[data-ready=true]");
  const pages = [first];
  for (let i = 1; i < n; i++) {
    const p = await context.newPage();
    await p.goto(url);
    await p.waitForSelector("body[data-ready=true]");
    pages.push(p);
  }
  for (const p of pages) expect((await stats(p)).loggedIn).toBe(true);
  // The tokens left the address bar.
  expect(first.url()).not.toContain("access_token");
  return pages;
}

async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`browser example screenshot: ${path}`);
  return path;
}

/**
 * The rotations a session of `seconds` needs: one per access token, each kept from receipt until its
 * refresh point — at least 7 s (25 % of 10 s left, up to 5 % jitter) and at most 9 s (it is never
 * served within 1 s of expiry). Whatever the number of tabs.
 */
function rotationsNeeded(seconds: number): { min: number; max: number } {
  return { min: Math.floor(seconds / (ACCESS_TTL_S - 1)), max: Math.floor(seconds / (ACCESS_TTL_S * 0.7)) };
}

/**
 * Asserts that rotations are one token lifetime apart: at least 6 s (7 s minus the 1 s step of the
 * fake clocks) — two tabs rotating for the same token would show up as a gap of 0.
 */
function expectOneRotationPerToken(times: number[]): void {
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(6000);
}

describe("browser example in headless Chromium", () => {
  it("three tabs, 10 s access tokens, 60 s: zero failed calls, the family never revoked, one refresh RPC per rotation", async () => {
    const clock = createManualClock(T0);
    const { api, store, counts } = await startApi(clock);
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
    try {
      await context.clock.install({ time: T0 - 1000 });
      await context.clock.pauseAt(T0);
      const { fragment, sid } = await issueLogin(api);
      const url = `${pageServer.url}/?api=${encodeURIComponent(api.url)}`;
      const pages = await openTabs(context, url, fragment, 3);
      for (const p of pages) {
        const s = await stats(p);
        expect([s.webLocks, s.broadcast]).toEqual([true, true]);
      }

      await runSession(context, clock, pages, 60);

      const all = await Promise.all(pages.map(stats));
      const needed = rotationsNeeded(60);
      const own = all.flatMap((s) => s.refreshes.filter((r) => r.outcome === "success"));
      const adopted = all.flatMap((s) => s.refreshes.filter((r) => r.outcome === "adopted"));
      const summary = {
        callsOk: all.map((s) => s.ok),
        callsFailed: all.map((s) => s.failed),
        refreshRpcs: counts.refreshRpcs,
        rotationsNeeded: needed,
        rotationsAtSecond: counts.rotationTimes.map((t) => (t - T0) / 1000),
        refreshesPerTab: all.map((s) => s.refreshes.filter((r) => r.outcome === "success").length),
        adoptionsPerTab: all.map((s) => s.refreshes.filter((r) => r.outcome === "adopted").length),
      };
      console.log(`browser example, 3 tabs x 60 s: ${JSON.stringify(summary)}`);

      // Zero failed calls, in the pages and at the server; every tab called every second.
      expect(all.flatMap((s) => s.failures)).toEqual([]);
      expect(counts.heartbeatFailures).toEqual([]);
      for (const s of all) expect(s.ok).toBe(60);
      expect(counts.heartbeats).toBe(180);
      // One refresh RPC per rotation needed — not three — each one a real rotation, none refused.
      expect(counts.refreshRpcs).toBeGreaterThanOrEqual(needed.min);
      expect(counts.refreshRpcs).toBeLessThanOrEqual(needed.max);
      expect(counts.refreshFailures).toEqual([]);
      expect(counts.rotatedTo.size).toBe(counts.refreshRpcs);
      expectOneRotationPerToken(counts.rotationTimes);
      expect(own).toHaveLength(counts.refreshRpcs);
      // The other two tabs adopted each new pair instead of refreshing.
      expect(adopted.length).toBeGreaterThanOrEqual(2 * counts.refreshRpcs);
      // The family was never revoked; every tab is still in session.
      expect((await store.getFamily(sid))?.revokedAt).toBeUndefined();
      for (const s of all) expect(s.state).toBe("active");

      const shot = await screenshot(pages[0]!, "browser-example-3-tabs.png");
      expect(existsSync(shot)).toBe(true);
    } finally {
      await context.close();
      await api.close();
    }
  });

  it("without Web Locks (navigator.locks removed) the page still works in one tab", async () => {
    const clock = createManualClock(T0);
    const { api, store, counts } = await startApi(clock);
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
    try {
      await context.addInitScript(() => {
        Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
      });
      await context.clock.install({ time: T0 - 1000 });
      await context.clock.pauseAt(T0);
      const { fragment, sid } = await issueLogin(api);
      const [page] = await openTabs(context, `${pageServer.url}/?api=${encodeURIComponent(api.url)}`, fragment, 1);
      const before = await stats(page!);
      expect(before.webLocks).toBe(false);
      expect(await page!.textContent("#caps")).toContain("Web Locks unavailable");

      await runSession(context, clock, [page!], 30);

      const s = await stats(page!);
      const needed = rotationsNeeded(30);
      expect(s.failures).toEqual([]);
      expect(s.ok).toBe(30);
      expect(counts.refreshRpcs).toBeGreaterThanOrEqual(needed.min);
      expect(counts.refreshRpcs).toBeLessThanOrEqual(needed.max);
      expect(counts.refreshFailures).toEqual([]);
      expectOneRotationPerToken(counts.rotationTimes);
      expect((await store.getFamily(sid))?.revokedAt).toBeUndefined();
      await screenshot(page!, "browser-example-no-web-locks.png");
    } finally {
      await context.close();
      await api.close();
    }
  });
});

describe("browser example in headless Chromium against an OpenID Connect provider", () => {
  /** A Connect API on its own origin (HTTP/1.1, CORS for the page) accepting the provider's access tokens. */
  async function startProviderApi(jwksUri: string, issuer: string, clock: DateClock) {
    const counts = { heartbeats: 0, rejected: 0 };
    const verify = createAccessTokenVerifier({ jwksUrl: jwksUri, issuer, audience: API, clock, clockToleranceSeconds: 1 });
    const verifier: typeof verify = (token, opts) =>
      verify(token, opts).catch((err: unknown) => {
        counts.rejected++;
        throw err;
      });
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(HeartbeatService, { heartbeat: () => (counts.heartbeats++, {}) }, { interceptors: [createBearerAuthInterceptor({ verifier })] }),
    });
    const server = createHttpServer(createCorsHandler({ origins: [pageServer.url] }, handler));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const close = () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counts, close };
  }

  it("the page refreshes at oidc-provider (public client, CORS) with createOAuthRefresher: 10 s tokens, 45 s, zero failed calls", async () => {
    // Fake time on both sides: Date in this process (oidc-provider and the API's verifier) and the page's clock.
    const clock = createDateClock();
    const op = await startOidcProvider({ rotate: true, accessTokenTtl: ACCESS_TTL_S });
    const api = await startProviderApi(op.jwksUri, op.issuer, clock);
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
    try {
      op.origins.push(pageServer.url);
      await context.clock.install({ time: clock.now() - 1000 });
      await context.clock.pauseAt(clock.now());
      const login = await op.login("public");
      const fragment = new URLSearchParams({ access_token: login.access_token, refresh_token: login.refresh_token!, expires_in: String(login.expires_in) });
      const url = `${pageServer.url}/?api=${encodeURIComponent(api.url)}&oidc=${encodeURIComponent(op.issuer)}&client_id=${CLIENTS.public.client_id}`;
      const pages = await openTabs(context, url, fragment.toString(), 1);
      const before = op.tokenRequests;
      for (let s = 0; s < 45; s++) {
        await clock.advance(1000);
        await context.clock.runFor(1000);
        await settle(pages);
      }
      const page = await stats(pages[0]!);
      const refreshes = page.refreshes.filter((r) => r.outcome === "success").length;
      console.log(`browser example against oidc-provider, 45 s: ${JSON.stringify({ ok: page.ok, failed: page.failed, refreshes, tokenRequests: op.tokenRequests - before })}`);
      expect(page.failures).toEqual([]);
      expect(page.ok).toBe(45);
      expect(api.counts.rejected).toBe(0);
      expect(page.refreshes.filter((r) => r.outcome !== "success")).toEqual([]);
      expect(refreshes).toBeGreaterThanOrEqual(rotationsNeeded(45).min);
      expect(op.tokenRequests - before).toBe(refreshes);
      expect(page.state).toBe("active");
      await screenshot(pages[0]!, "browser-example-oidc-provider.png");
    } finally {
      await context.close();
      await api.close();
      await op.close();
      vi.useRealTimers();
    }
  });
});

/**
 * tokenkit browser example: a single-page app that keeps one session alive
 * in any number of tabs. Every second it calls the protected
 * `HeartbeatService.Heartbeat`; the token source refreshes before the access
 * token expires, one tab at a time (Web Locks), and the other tabs adopt the
 * new pair at once (BroadcastChannel).
 *
 * Page parameters:
 * - `?api=URL` — the tokenkit server (default: this page's origin, e.g. with `tokenkit serve --static`).
 * - `#access_token=…&refresh_token=…&expires_in=…[&refresh_expires_in=…][&session_id=…]` — a login:
 *   the pair is installed, saved to `localStorage` for the other tabs, and removed from the URL.
 * - `?oidc=ISSUER&client_id=ID` — refresh at that OAuth 2.0 / OpenID Connect provider (a public client,
 *   discovery at the issuer, CORS allowed there for this page) instead of tokenkit's `TokenService`;
 *   `?api=` then names a Connect API that accepts the provider's access tokens.
 */
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import {
  createAuthInterceptor,
  createCrossTabTokenStore,
  createOAuthRefresher,
  createTokenServiceRefresher,
  createTokenSource,
  documentVisibility,
  HeartbeatService,
  type RefreshFunction,
  type StoredToken,
  type TokenSourceEvent,
} from "tokenkit";
// The token fingerprint helper is internal to tokenkit; the example shows it from the source file.
import { fingerprint } from "../../../src/client/token-events.js";

/** Stats is what the page counts; the end-to-end test reads it from `window.tokenkitExample`. */
export interface Stats {
  tab: string;
  ok: number;
  failed: number;
  failures: string[];
  /** pending counts heartbeat calls and refreshes still running. */
  pending: number;
  refreshes: { at: number; cause: string; outcome: string; fingerprint?: string }[];
  state: string;
  webLocks: boolean;
  broadcast: boolean;
  loggedIn: boolean;
}

const $ = (id: string) => document.getElementById(id)!;
const params = new URLSearchParams(location.search);
const api = params.get("api") ?? location.origin;
const tab = Math.random().toString(36).slice(2, 6);

const stats: Stats = {
  tab,
  ok: 0,
  failed: 0,
  failures: [],
  pending: 0,
  refreshes: [],
  state: "starting",
  webLocks: false,
  broadcast: false,
  loggedIn: false,
};
(window as unknown as { tokenkitExample: Stats }).tokenkitExample = stats;

const transport = createConnectTransport({ baseUrl: api });
// The store spans the tabs of this origin: localStorage + a Web Lock + a BroadcastChannel.
const store = createCrossTabTokenStore({ name: "tokenkit-example" });
stats.webLocks = store.webLocks;
stats.broadcast = store.broadcast;

const oidcIssuer = params.get("oidc");
const refreshOverNetwork: RefreshFunction =
  oidcIssuer === null
    ? createTokenServiceRefresher(transport)
    : createOAuthRefresher({
        issuer: oidcIssuer,
        clientId: params.get("client_id") ?? "tokenkit-example",
        // Plain http only for a provider on this machine (development, tests).
        allowInsecureRequests: ["127.0.0.1", "localhost"].includes(new URL(oidcIssuer).hostname),
      }).refresh;
// Counted only so that the page (and its test) can tell when it is idle.
const refresh: RefreshFunction = async (current, context) => {
  stats.pending++;
  try {
    return await refreshOverNetwork(current, context);
  } finally {
    stats.pending--;
  }
};

const source = createTokenSource({
  refresh,
  store,
  // Refresh at the refresh point even between calls, paused while the tab is hidden.
  autoRefresh: true,
  onEvent: onTokenEvent,
});

const heartbeats = createClient(HeartbeatService, createConnectTransport({ baseUrl: api, interceptors: [createAuthInterceptor(source)] }));

function onTokenEvent(e: TokenSourceEvent): void {
  if (e.type === "refresh") {
    stats.refreshes.push({ at: Date.now(), cause: e.cause, outcome: e.outcome, fingerprint: e.fingerprint });
    const row = document.createElement("tr");
    row.className = e.outcome;
    for (const text of [new Date().toISOString().slice(11, 23), e.cause, e.outcome, e.fingerprint ?? (e.error ? Code[e.error.code] : "")]) {
      const td = document.createElement("td");
      td.textContent = text;
      row.append(td);
    }
    $("log").prepend(row);
    while ($("log").children.length > 12) $("log").lastElementChild!.remove();
  } else if (e.type === "session_expired") {
    stats.state = "session expired";
  }
  render();
}

/** Reads a login from the URL fragment (as an OAuth-style redirect would deliver it) and removes it from the URL. */
function loginFromFragment(): StoredToken | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const accessToken = fragment.get("access_token");
  const refreshToken = fragment.get("refresh_token");
  const expiresIn = Number(fragment.get("expires_in"));
  if (!accessToken || !refreshToken || !(expiresIn > 0)) {
    return undefined;
  }
  // Never leave tokens in the address bar or the history.
  history.replaceState(null, "", location.pathname + location.search);
  const now = Date.now();
  const token: StoredToken = { accessToken, refreshToken, receivedAt: now, expiresAt: now + expiresIn * 1000 };
  const refreshExpiresIn = Number(fragment.get("refresh_expires_in"));
  if (refreshExpiresIn > 0) token.refreshExpiresAt = now + refreshExpiresIn * 1000;
  const sid = fragment.get("session_id");
  if (sid) token.sessionId = sid;
  return token;
}

let lastCall = "";

async function beat(): Promise<void> {
  if (!stats.loggedIn || source.state !== "active") {
    return;
  }
  stats.pending++;
  try {
    const res = await heartbeats.heartbeat({ instanceId: `tab-${tab}`, attributes: { page: "browser-example" } });
    stats.ok++;
    lastCall = `server time ${res.serverTime ? new Date(Number(res.serverTime.seconds) * 1000).toISOString().slice(11, 19) : "?"}`;
  } catch (err) {
    stats.failed++;
    const e = ConnectError.from(err);
    // The code and message only: tokenkit's errors never carry token text.
    stats.failures.push(`${Code[e.code]}: ${e.rawMessage}`);
    lastCall = `failed: ${Code[e.code]}`;
  } finally {
    stats.pending--;
    render();
  }
}

function render(): void {
  // A login in another tab reaches this one through the store's subscribe.
  stats.loggedIn ||= source.current() !== undefined;
  $("tab").textContent = `tab ${tab} · API ${api}`;
  const current = source.current();
  const state = source.state === "active" ? (stats.loggedIn ? "active" : "not logged in") : source.state.replace("_", " ");
  stats.state = state;
  $("state").textContent = state;
  $("state").className = source.state === "active" ? "big" : "big expired";
  $("session").textContent = current?.sessionId ? `session ${current.sessionId.slice(0, 12)}…` : "";
  if (current !== undefined) {
    const left = Math.max(0, current.expiresAt - Date.now());
    const life = Math.max(1, current.expiresAt - current.receivedAt);
    $("remaining").textContent = `${(left / 1000).toFixed(1)} s left`;
    const fill = $("bar-fill");
    fill.style.width = `${Math.round((100 * left) / life)}%`;
    fill.className = left / life < 0.25 ? "low" : "";
    $("token").textContent = `token ${fingerprint(current.accessToken)} · lifetime ${(life / 1000).toFixed(0)} s`;
  }
  $("ok").textContent = String(stats.ok);
  $("failed").textContent = String(stats.failed);
  $("last-call").textContent = lastCall;
  const visible = document.visibilityState === "visible";
  const caps = [
    [store.webLocks, store.webLocks ? "Web Locks: one tab refreshes at a time" : "Web Locks unavailable: in-tab lock only (single-tab behaviour)"],
    [store.broadcast, store.broadcast ? "BroadcastChannel: new pairs adopted at once" : "BroadcastChannel unavailable: tabs adopt under the lock"],
    [documentVisibility() !== undefined, `Page Visibility: ${visible ? "visible, refresh timer armed" : "hidden, refresh timer suspended"}`],
  ] as const;
  $("caps").replaceChildren(
    ...caps.map(([on, text]) => {
      const li = document.createElement("li");
      li.textContent = text;
      if (!on) li.className = "off";
      return li;
    }),
  );
  $("login").hidden = stats.loggedIn;
}

async function main(): Promise<void> {
  const login = loginFromFragment();
  if (login !== undefined) {
    await source.setToken(login);
  }
  // Without a login in the URL, another tab's (or an earlier visit's) pair comes from localStorage.
  stats.loggedIn = login !== undefined || (await store.load()) !== undefined;
  render();
  setInterval(() => void beat(), 1000);
  setInterval(render, 250);
  document.addEventListener("visibilitychange", render);
  document.body.dataset.ready = "true";
}

void main();

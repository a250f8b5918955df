import { Code, ConnectError } from "@connectrpc/connect";
import { raceAbort } from "./abort-race.js";
import { createFreshnessTimer, type FreshnessTimer } from "./freshness-timer.js";
import { isUsable } from "./refresh-policy.js";
import { createRefreshRetry } from "./refresh-retry.js";
import { createRefreshFlight } from "./refresh-flight.js";
import { isNewerPair, readStore } from "./store-adoption.js";
import { revokeAtServer } from "./token-revocation.js";
import type { GetTokenOptions, TokenSource } from "./token-source-types.js";
import { fingerprint, logTokenEvent, type RefreshCause, type TokenSourceEvent } from "./token-events.js";
import { createTokenPersister } from "./token-persister.js";
import { normalizeSourceOptions, type TokenSourceOptions } from "./token-source-options.js";
import { closedError, createSourceCore, signedOutError, type TokenSourceState } from "./token-source-state.js";
import type { StoredToken } from "./token-store.js";

export type { RefreshContext, RefreshFunction } from "./refresh-function.js";
export type { GetTokenOptions, TokenSource } from "./token-source-types.js";
export type { TokenSourceOptions } from "./token-source-options.js";
export type { TokenSourceState } from "./token-source-state.js";
export { isSessionExpired, isTerminalRefreshError } from "./refresh-errors.js";

/**
 * createTokenSource returns a {@link TokenSource} (see its contract) built from small parts: the
 * freshness policy (`refresh-policy`), the state and its transitions (`token-source-state`), the
 * retry backoff (`refresh-retry`), the newest-wins persister (`token-persister`) and store adoption
 * (`store-adoption`). Refresh failures follow the {@link RefreshFunction} contract: transient ones
 * keep serving the still-usable token and retry with capped backoff; a session over or a
 * configuration error ends refreshing once, with one event and no loop.
 *
 * @example
 * const source = createTokenSource({
 *   refreshToken: process.env.TOKENKIT_REFRESH_TOKEN,
 *   refresh: createTokenServiceRefresher({ baseUrl: "http://127.0.0.1:8080" }),
 *   store: createFileTokenStore({ path: ".tokenkit-session.json" }),
 * });
 */
export function createTokenSource(options: TokenSourceOptions): TokenSource {
  const settings = normalizeSourceOptions(options);
  const { store, policy, clock, random } = settings;
  const core = createSourceCore(policy, random);
  const retry = createRefreshRetry(clock, random, settings.backoff);
  const persister = createTokenPersister(store, {
    clock,
    random,
    backoff: settings.backoff,
    onFailed: (attempt, error) => emit({ type: "persist_failed", attempt, error }),
  });
  let loading: Promise<void> | undefined;
  let loaded = store === undefined || settings.seedWins;
  let lastForcedAt = -Infinity;
  let freshness: FreshnessTimer | undefined;
  const flights = createRefreshFlight({ settings, core, retry, persister, emit, install, adopt, end, signedOutElsewhere });
  if (loaded && settings.seed !== undefined) {
    core.install(settings.seed);
  }

  function emit(event: TokenSourceEvent): void {
    try {
      settings.onEvent?.(event);
    } catch {
      // An observer's failure must not break token delivery.
    }
    logTokenEvent(settings.logger, event);
  }

  /** install makes `token` current and forgets failures: every path to a new pair goes through here. */
  function install(token: StoredToken): void {
    core.install(token);
    retry.reset();
    freshness?.rearm();
  }

  /** end leaves `active` (stopping retries and the freshness timer); the event tells why. */
  function end(state: "session_expired" | "failed" | "signed_out", error: ConnectError, event: TokenSourceEvent): ConnectError {
    core.end(state, error);
    retry.reset();
    freshness?.rearm();
    flights.abort(error);
    emit(event);
    return error;
  }

  function ensureLoaded(): Promise<void> {
    if (loaded) {
      return Promise.resolve();
    }
    loading ??= readStore(store!).then((read) => {
      loaded = true;
      if (!read.ok) {
        settings.logger?.warn?.("tokenkit: loading the stored token failed", read.error);
      }
      if (core.token !== undefined || core.state !== "active") {
        return; // a pair arrived meanwhile (setToken, a notification)
      }
      if (read.ok && read.token !== undefined) {
        persister.markHeld();
        install(read.token);
      } else if (settings.seed !== undefined) {
        install(settings.seed);
      }
    });
    return loading;
  }

  /** adopt installs a pair another tab or process saved; a saved pair is also a new login, ending a terminal state. */
  function adopt(stored: StoredToken, cause: RefreshCause): void {
    install(stored);
    persister.markHeld();
    emit({ type: "refresh", cause, outcome: "adopted", latencyMs: 0, fingerprint: fingerprint(stored.accessToken) });
  }

  function signedOutElsewhere(): ConnectError {
    return end("signed_out", signedOutError(), { type: "signed_out", remote: true });
  }

  /** onNotified handles a pair another tab or process announced through `store.subscribe`. */
  function onNotified(stored: StoredToken | undefined): void {
    if (core.state === "closed") {
      return;
    }
    if (stored === undefined) {
      if (core.state === "active" && core.token !== undefined) signedOutElsewhere();
      return;
    }
    if (isNewerPair(stored, core.token)) {
      loaded = true;
      adopt(stored, "notified");
    }
  }

  /** checkFreshness is the `autoRefresh` check: refresh once past the refresh point (or a due retry), else wait for the point. */
  function checkFreshness(): void {
    if (core.state !== "active" || flights.busy) {
      return;
    }
    if (!loaded) {
      void ensureLoaded().then(checkFreshness);
      return;
    }
    const now = clock.now();
    if (retry.pending) {
      if (now < retry.retryAt) {
        return;
      }
      retry.disarm(); // the backoff timer was throttled or frozen with the page: retry now
    }
    if (core.token !== undefined && now >= core.point) {
      flights.start("scheduled").catch(() => {});
    } else {
      freshness?.rearm();
    }
  }

  /** peekToken is the synchronous fast path: a usable token, with a background refresh past the refresh point. */
  function peekToken(): string | undefined {
    if (core.state !== "active" || !loaded) {
      return undefined;
    }
    const now = clock.now();
    const token = core.token;
    if (!isUsable(token, now, policy)) {
      return undefined;
    }
    if (now >= core.point && !flights.busy && !retry.pending) {
      flights.start("proactive").catch(() => {});
    }
    return token.accessToken;
  }

  async function slowGetToken(opts: GetTokenOptions): Promise<string> {
    await ensureLoaded();
    if (core.state !== "active") {
      throw core.ended ?? closedError();
    }
    const now = clock.now();
    const token = core.token;
    if (opts.forceRefresh) {
      if (opts.failedToken !== undefined && isUsable(token, now, policy) && token.accessToken !== opts.failedToken) {
        return token.accessToken;
      }
      if (!flights.busy && now - lastForcedAt < settings.minForcedMs && isUsable(token, now, policy)) {
        return token.accessToken;
      }
      if (!flights.busy) {
        lastForcedAt = now;
      }
      return (await raceCaller(flights.start("reactive", true), opts.signal)).accessToken;
    }
    const fast = peekToken();
    if (fast !== undefined) {
      return fast;
    }
    if (!flights.busy && retry.lastError !== undefined && now < retry.retryAt) {
      throw retry.lastError; // the token server is failing and no usable token is left: fail fast until the retry
    }
    return (await raceCaller(flights.start("initial"), opts.signal)).accessToken;
  }

  const unsubscribe = store?.subscribe?.(onNotified);
  if (settings.autoRefresh !== undefined) {
    freshness = createFreshnessTimer(settings.autoRefresh, {
      clock,
      dueAt: () => (core.state === "active" && core.token !== undefined ? core.point : undefined),
      check: () => checkFreshness(),
      onWake: (lateMs) => emit({ type: "wake", lateMs }),
      onVisibility: (visible) => emit({ type: "visibility", visible }),
    });
    if (loaded) {
      freshness.rearm();
    } else {
      void ensureLoaded().then(() => freshness?.rearm());
    }
  }

  return {
    getToken(opts = {}) {
      if (!opts.forceRefresh) {
        const fast = peekToken();
        if (fast !== undefined) {
          return Promise.resolve(fast);
        }
      }
      return slowGetToken(opts);
    },
    peekToken,
    current: () => (core.token === undefined ? undefined : { ...core.token }),
    async setToken(next) {
      if (core.state === "closed") {
        throw closedError();
      }
      loaded = true;
      install(next);
      await persister.save(core.token!);
    },
    async signOut() {
      if (core.state === "closed") {
        throw closedError();
      }
      const token = core.token;
      end("signed_out", signedOutError(), { type: "signed_out", remote: false });
      const cleared = persister.clear().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e, Code.Unavailable),
      );
      const revoked = token === undefined ? undefined : revokeAtServer(settings.refresh.revoke, token, clock, settings.refreshTimeoutMs);
      const problem = (await cleared) ?? (await revoked);
      if (problem !== undefined) {
        throw new ConnectError(`signed out locally, but ${problem.rawMessage}`, problem.code, undefined, undefined, problem);
      }
    },
    get state() {
      return core.state;
    },
    close() {
      core.end("closed", closedError());
      retry.reset();
      persister.stop();
      freshness?.stop();
      unsubscribe?.();
      flights.abort(closedError());
    },
  };
}

/** raceCaller waits for a shared refresh on behalf of one caller, whose signal aborts only its own wait. */
function raceCaller<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return raceAbort(promise, signal).catch((e: unknown) => {
    throw signal?.aborted && e === signal.reason ? ConnectError.from(e, Code.Canceled) : e;
  });
}

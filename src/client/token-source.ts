import { Code, ConnectError } from "@connectrpc/connect";
import { raceAbort } from "./abort-race.js";
import { createFreshnessTimer, type FreshnessTimer } from "./freshness-timer.js";
import { classifyRefreshFailure } from "./refresh-errors.js";
import { isUsable } from "./refresh-policy.js";
import { createRefreshRetry } from "./refresh-retry.js";
import { isNewerPair, readStore } from "./store-adoption.js";
import { fingerprint, logTokenEvent, type RefreshCause, type TokenSourceEvent } from "./token-events.js";
import { createTokenPersister } from "./token-persister.js";
import { normalizeSourceOptions, type TokenSourceOptions } from "./token-source-options.js";
import { closedError, createSourceCore, signedOutError, type TokenSourceState } from "./token-source-state.js";
import type { StoredToken } from "./token-store.js";

export type { RefreshContext, RefreshFunction } from "./refresh-function.js";
export type { TokenSourceOptions } from "./token-source-options.js";
export type { TokenSourceState } from "./token-source-state.js";
export { isSessionExpired, isTerminalRefreshError } from "./refresh-errors.js";

/** GetTokenOptions are the per-call options of {@link TokenSource.getToken}. */
export interface GetTokenOptions {
  /** signal aborts this caller's wait only; a shared refresh goes on for the others. */
  signal?: AbortSignal;
  /** forceRefresh asks for a new token (after the server rejected one). Rate-limited. */
  forceRefresh?: boolean;
  /** failedToken is the access token the server rejected; if it is no longer current, the newer token is returned without refreshing. */
  failedToken?: string;
}

/**
 * TokenSource hands out access tokens and keeps them fresh.
 *
 * Contract (what every implementation and caller may rely on):
 * - It is safe for any number of concurrent callers; callers must not modify what it returns.
 * - `getToken()` resolves at once with the current token while it is fresh; past its refresh
 *   point, still at once while one background refresh runs; it waits only when no usable token
 *   exists, and then all waiters share one refresh (never more than one in flight).
 * - A token it returns was usable (not within the serving margin of its expiry) when returned.
 * - A refresh started for an older pair never replaces — nor ends — a newer one (`setToken`,
 *   or a pair adopted from the store).
 * - It fails only with a `ConnectError`: `Unauthenticated` (with `AuthErrorDetail`) once the
 *   session is over or signed out, the refresher's own error once it reported a configuration
 *   error, a transient refresh error (`Unavailable`, `DeadlineExceeded`, …) while no usable token
 *   exists and the refresh keeps failing, `Canceled` after `close()` or when the caller's signal aborts.
 */
export interface TokenSource {
  /** getToken resolves to a usable access token, refreshing only when needed (single-flight). */
  getToken(options?: GetTokenOptions): Promise<string>;
  /** peekToken returns the current access token if it can be sent right now without waiting, starting a background refresh if it is past its refresh point; else undefined. */
  peekToken(): string | undefined;
  /** current returns the current token state (a copy), if any. */
  current(): StoredToken | undefined;
  /** setToken installs a new pair (a new login), persists it, and leaves any terminal state but `closed`. */
  setToken(token: StoredToken): Promise<void>;
  /**
   * signOut ends the session: the source enters `signed_out` at once (callers get
   * `Unauthenticated`), the stored pair is cleared (which tells other tabs or processes sharing
   * the store: they sign out too), and the session is revoked at the token service through the
   * refresh function's `revoke`. It rejects if clearing or revoking failed — the source is signed
   * out locally either way.
   */
  signOut(): Promise<void>;
  /** state is the lifecycle state; see {@link TokenSourceState}. */
  readonly state: TokenSourceState;
  /** close aborts the in-flight refresh and stops every timer; later calls fail with `Canceled`. */
  close(): void;
}

interface Flight {
  /** baseGen is the generation this refresh may replace; adopting a pair moves it forward. */
  baseGen: number;
  controller: AbortController;
  promise: Promise<StoredToken>;
}

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
  let flight: Flight | undefined;
  let lastForcedAt = -Infinity;
  let freshness: FreshnessTimer | undefined;
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
    flight?.controller.abort(error);
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

  function refresh(cause: RefreshCause, force = false): Promise<StoredToken> {
    if (flight !== undefined) {
      return flight.promise;
    }
    const controller = new AbortController();
    const f: Flight = { baseGen: core.generation, controller, promise: undefined as never };
    const deadline = clock.setTimeout(
      () => controller.abort(new ConnectError(`token refresh timed out after ${settings.refreshTimeoutMs} ms`, Code.DeadlineExceeded)),
      settings.refreshTimeoutMs,
    );
    flight = f;
    f.promise = runFlight(f, cause, force).finally(() => {
      clock.clearTimeout(deadline);
      if (flight === f) flight = undefined;
    });
    f.promise.catch(() => {});
    return f.promise;
  }

  async function runFlight(f: Flight, cause: RefreshCause, force: boolean): Promise<StoredToken> {
    const started = clock.now();
    let result: { token: StoredToken; adopted: boolean };
    try {
      const work = () => attempt(f, cause, force);
      result = await raceAbort(store?.lock ? store.lock(work, { signal: f.controller.signal }) : work(), f.controller.signal);
    } catch (e) {
      return settleFailure(f, cause, started, e);
    }
    if (core.state !== "active") {
      throw core.ended ?? closedError();
    }
    if (!result.adopted && core.generation === f.baseGen) {
      install(result.token);
    }
    // Else a newer pair arrived while this refresh ran: it wins, and this result is dropped.
    retry.reset();
    const outcome = result.adopted ? "adopted" : "success";
    emit({ type: "refresh", cause, outcome, latencyMs: clock.now() - started, fingerprint: fingerprint(core.token!.accessToken) });
    return core.token!;
  }

  /** attempt runs under the store's lock: adopt a newer stored pair, or refresh and persist. */
  async function attempt(f: Flight, cause: RefreshCause, force: boolean): Promise<{ token: StoredToken; adopted: boolean }> {
    const startGen = f.baseGen;
    if (store !== undefined) {
      const read = await readStore(store);
      if (read.ok && read.token === undefined && persister.heldOurs && core.state === "active") {
        throw signedOutElsewhere();
      }
      if (read.ok && isNewerPair(read.token, core.token)) {
        adopt(read.token, cause);
      }
    }
    if (core.generation !== startGen) {
      f.baseGen = core.generation;
      // A forced refresh wanted another token and got one; otherwise refresh only if the new pair is stale too.
      const now = clock.now();
      if (force || (now < core.point && isUsable(core.token, now, policy))) {
        return { token: core.token!, adopted: true };
      }
    }
    const gen = f.baseGen;
    const call = Promise.resolve().then(() => settings.refresh(core.token, { signal: f.controller.signal, cause }));
    call.then((late) => f.controller.signal.aborted && keepLate(gen, late, cause), () => {});
    const next = await raceAbort(call, f.controller.signal);
    if (core.generation === gen) {
      await persister.save(next); // under the lock: the store holds the new pair before another process reads it
    }
    return { token: next, adopted: false };
  }

  /** keepLate keeps a pair that arrived after its refresh timed out — the server already rotated — unless a newer pair exists. */
  function keepLate(gen: number, late: StoredToken, cause: RefreshCause): void {
    if (core.state !== "active" || core.generation !== gen) {
      return;
    }
    install(late);
    void persister.save(late);
    emit({ type: "refresh", cause, outcome: "success", latencyMs: 0, fingerprint: fingerprint(late.accessToken) });
  }

  async function settleFailure(f: Flight, cause: RefreshCause, started: number, thrown: unknown): Promise<StoredToken> {
    if (core.state !== "active") {
      throw core.ended ?? closedError();
    }
    const latencyMs = clock.now() - started;
    if (core.generation !== f.baseGen && core.token !== undefined) {
      // A newer pair arrived while this refresh ran: its failure concerns a pair no longer in use.
      settings.logger?.debug?.("tokenkit: a refresh for an older token generation failed late; ignored");
      return core.token;
    }
    const refreshExpired = core.token?.refreshExpiresAt !== undefined && clock.now() >= core.token.refreshExpiresAt;
    const failure = classifyRefreshFailure(thrown, refreshExpired);
    if (failure.kind === "transient") {
      emit({ type: "refresh", cause, outcome: "transient_failure", latencyMs, error: failure.error });
      const { attempt: n, delayMs } = retry.schedule(failure.error, failure.retryAfterMs, onRetry);
      emit({ type: "refresh_retry", attempt: n, delayMs, error: failure.error });
      throw failure.error;
    }
    if (failure.kind === "session_expired" && store !== undefined) {
      // Another process may have rotated the pair we just spent: adopt it instead of ending the session.
      const read = await readStore(store);
      if (read.ok && isNewerPair(read.token, core.token) && core.state === "active") {
        adopt(read.token, cause);
        return core.token!;
      }
    }
    emit({ type: "refresh", cause, outcome: "terminal_failure", latencyMs, error: failure.error });
    throw failure.kind === "session_expired"
      ? end("session_expired", failure.error, { type: "session_expired", reason: failure.reason, error: failure.error })
      : end("failed", failure.error, { type: "refresh_failed", error: failure.error });
  }

  function onRetry(): void {
    if (core.state === "active" && flight === undefined) {
      refresh("proactive").catch(() => {});
    }
  }

  /** checkFreshness is the `autoRefresh` check: refresh once past the refresh point (or a due retry), else wait for the point. */
  function checkFreshness(): void {
    if (core.state !== "active" || flight !== undefined) {
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
      refresh("scheduled").catch(() => {});
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
    if (now >= core.point && flight === undefined && !retry.pending) {
      refresh("proactive").catch(() => {});
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
      if (flight === undefined && now - lastForcedAt < settings.minForcedMs && isUsable(token, now, policy)) {
        return token.accessToken;
      }
      if (flight === undefined) {
        lastForcedAt = now;
      }
      return (await raceCaller(refresh("reactive", true), opts.signal)).accessToken;
    }
    const fast = peekToken();
    if (fast !== undefined) {
      return fast;
    }
    if (flight === undefined && retry.lastError !== undefined && now < retry.retryAt) {
      throw retry.lastError; // the token server is failing and no usable token is left: fail fast until the retry
    }
    return (await raceCaller(refresh("initial"), opts.signal)).accessToken;
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
      const revoked = token === undefined ? undefined : revokeAtServer(token);
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
      flight?.controller.abort(closedError());
    },
  };

  /** revokeAtServer revokes the session of `token` through the refresh function's `revoke`, bounded by `refreshTimeoutMs`. */
  async function revokeAtServer(token: StoredToken): Promise<ConnectError | undefined> {
    const revoke = settings.refresh.revoke;
    if (revoke === undefined || (token.refreshToken ?? token.accessToken) === "") {
      return undefined;
    }
    const controller = new AbortController();
    const timer = clock.setTimeout(
      () => controller.abort(new ConnectError(`revoking timed out after ${settings.refreshTimeoutMs} ms`, Code.DeadlineExceeded)),
      settings.refreshTimeoutMs,
    );
    try {
      await raceAbort(Promise.resolve().then(() => revoke(token, { signal: controller.signal })), controller.signal);
      return undefined;
    } catch (e) {
      const err = ConnectError.from(e, Code.Unavailable);
      return new ConnectError(`revoking the session at the token service failed: ${err.rawMessage}`, err.code, undefined, undefined, e);
    } finally {
      clock.clearTimeout(timer);
    }
  }
}

/** raceCaller waits for a shared refresh on behalf of one caller, whose signal aborts only its own wait. */
function raceCaller<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  return raceAbort(promise, signal).catch((e: unknown) => {
    throw signal?.aborted && e === signal.reason ? ConnectError.from(e, Code.Canceled) : e;
  });
}

import { Code, ConnectError } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authError, authErrorReason } from "../auth-error.js";
import { systemClock, type Clock, type ClockTimer } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import {
  backoffDelay,
  isUsable,
  normalizeRefreshPolicy,
  refreshPoint,
  type BackoffOptions,
  type RefreshPolicyOptions,
} from "./refresh-policy.js";
import { createFreshnessTimer, normalizeAutoRefresh, type AutoRefreshOptions, type FreshnessTimer } from "./freshness-timer.js";
import { fingerprint, type RefreshCause, type TokenSourceEvent } from "./token-events.js";
import type { StoredToken, TokenStore } from "./token-store.js";

/**
 * RefreshFunction obtains a new pair. It receives the current token (the
 * newest known, possibly adopted from the store) and a signal owned by the
 * token source — never by a caller — that aborts on the refresh timeout or
 * `close()`. It must measure `receivedAt`/`expiresAt` on the local clock.
 */
export type RefreshFunction = (
  current: StoredToken | undefined,
  context: { signal: AbortSignal; cause: RefreshCause },
) => Promise<StoredToken>;

/** TokenSourceState is the lifecycle of a token source. */
export type TokenSourceState = "active" | "session_expired" | "closed";

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
 * TokenSource hands out access tokens and keeps them fresh. It is safe for
 * any number of concurrent callers; callers must not modify what it returns.
 */
export interface TokenSource {
  /** getToken resolves to a usable access token, refreshing only when needed (single-flight). */
  getToken(options?: GetTokenOptions): Promise<string>;
  /** peekToken returns the current access token if it can be sent right now without waiting, starting a background refresh if it is past its refresh point; else undefined. */
  peekToken(): string | undefined;
  /** current returns the current token state (a copy), if any. */
  current(): StoredToken | undefined;
  /** setToken installs a new pair (a new login) and leaves the session-expired state. */
  setToken(token: StoredToken): Promise<void>;
  /** state is the lifecycle state. */
  readonly state: TokenSourceState;
  /** close aborts the in-flight refresh and stops every timer; later calls fail with `Canceled`. */
  close(): void;
}

/** TokenSourceOptions configures {@link createTokenSource}. */
export interface TokenSourceOptions extends RefreshPolicyOptions {
  /** refresh obtains a new pair, e.g. `createTokenServiceRefresher(transport)`. Required. */
  refresh: RefreshFunction;
  /** initial is the pair to start from; without it the store is read on first use. @default none */
  initial?: StoredToken;
  /**
   * store persists every new pair and is re-read before each refresh; a store with `lock`
   * makes "re-read → refresh if still needed → write" exclusive across processes (or tabs:
   * `createCrossTabTokenStore`), and one with `subscribe` lets the source adopt a pair another
   * process or tab saved as soon as it is announced (also ending a session-expired state: a new
   * login there). A `save(undefined)` elsewhere is not adopted.
   * @default none — the token lives in this source only
   */
  store?: TokenStore;
  /**
   * autoRefresh refreshes at the refresh point even when no call asks for a token, so an idle
   * page still holds a fresh token (and, with a cross-tab store, hands it to the other tabs).
   * The timer is suspended while the page is hidden and checks freshness once when the page is
   * visible again or the machine wakes from sleep; see {@link AutoRefreshOptions}. With a `store`
   * and no `initial`, the store is read at once.
   * @default false — refreshes happen only when a call needs a token (lazily, in the background past the refresh point)
   */
  autoRefresh?: boolean | AutoRefreshOptions;
  /**
   * refreshTimeoutMs bounds each shared refresh. It belongs to the refresh, not to a caller, so a caller's short deadline never kills it.
   * @default 30 000
   */
  refreshTimeoutMs?: number;
  /** backoff shapes retries after transient refresh failures. @default { initialMs: 1000, maxMs: 60 000 } */
  backoff?: BackoffOptions;
  /**
   * minForcedRefreshIntervalMs rate-limits forced (reactive) refreshes, so a server that rejects every token cannot cause a refresh storm.
   * @default 10 000
   */
  minForcedRefreshIntervalMs?: number;
  /** clock supplies time and timers. @default systemClock */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** onEvent observes refreshes, retries, persist failures and session expiry. @default none */
  onEvent?: (event: TokenSourceEvent) => void;
  /** logger receives the same events as text (console or pino); never token text. @default none */
  logger?: Logger;
}

const TERMINAL_REASONS = new Set([
  AuthErrorReason.REFRESH_TOKEN_REUSED,
  AuthErrorReason.SESSION_EXPIRED,
  AuthErrorReason.TOKEN_REVOKED,
  AuthErrorReason.TOKEN_INVALID,
  AuthErrorReason.TOKEN_MALFORMED,
  AuthErrorReason.TOKEN_MISSING,
]);

/** isTerminalRefreshError reports whether a refresh failure means the session is over (a new login is needed). */
export function isTerminalRefreshError(err: ConnectError): boolean {
  const reason = authErrorReason(err);
  if (reason !== undefined) {
    return TERMINAL_REASONS.has(reason);
  }
  return err.code === Code.Unauthenticated || err.code === Code.PermissionDenied;
}

/** isSessionExpired reports whether `err` is a token source's terminal session-expired error. */
export function isSessionExpired(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated && TERMINAL_REASONS.has(authErrorReason(err) ?? 0);
}

function waitFor<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) {
    return promise;
  }
  if (signal.aborted) {
    return Promise.reject(ConnectError.from(signal.reason, Code.Canceled));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(ConnectError.from(signal.reason, Code.Canceled));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * createTokenSource returns a {@link TokenSource} implementing DESIGN §5: a
 * fresh token is returned at once; past its refresh point it is still
 * returned at once while one background refresh runs; callers wait only when
 * no usable token exists. All callers share one in-flight refresh, which is
 * detached from any caller's signal and has its own timeout. Transient
 * failures keep the still-usable token and retry with capped exponential
 * backoff; terminal ones (reuse, expiry, revocation) end the session once,
 * with one `session_expired` event and no refresh loop.
 */
export function createTokenSource(options: TokenSourceOptions): TokenSource {
  if (typeof options?.refresh !== "function") {
    throw new TypeError('createTokenSource: option "refresh" must be a function');
  }
  const policy = normalizeRefreshPolicy(options);
  const refreshTimeoutMs = options.refreshTimeoutMs ?? 30_000;
  if (!Number.isFinite(refreshTimeoutMs) || refreshTimeoutMs <= 0) {
    throw new TypeError('createTokenSource: option "refreshTimeoutMs" must be a positive number');
  }
  const minForcedMs = options.minForcedRefreshIntervalMs ?? 10_000;
  if (!Number.isFinite(minForcedMs) || minForcedMs < 0) {
    throw new TypeError('createTokenSource: option "minForcedRefreshIntervalMs" must be a non-negative number');
  }
  const autoRefresh = normalizeAutoRefresh(options.autoRefresh, "createTokenSource");
  const backoff = options.backoff ?? {};
  const { store, onEvent, logger } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;

  let token: StoredToken | undefined = options.initial === undefined ? undefined : { ...options.initial };
  let generation = 0;
  let point = token === undefined ? 0 : refreshPoint(token, policy, random());
  let state: TokenSourceState = "active";
  let terminal: ConnectError | undefined;
  let loaded = token !== undefined || store === undefined;
  let loading: Promise<void> | undefined;
  let inflight: Promise<StoredToken> | undefined;
  let inflightAbort: AbortController | undefined;
  let attempt = 0;
  let retryTimer: ClockTimer | undefined;
  let retryAt = 0;
  let lastError: ConnectError | undefined;
  let lastForcedAt = -Infinity;
  let persistPending: StoredToken | undefined;
  let persistAttempt = 0;
  let persistTimer: ClockTimer | undefined;
  let freshness: FreshnessTimer | undefined;

  function emit(event: TokenSourceEvent): void {
    try {
      onEvent?.(event);
    } catch {
      // An observer's failure must not break token delivery.
    }
    switch (event.type) {
      case "refresh":
        logger?.[event.outcome.endsWith("failure") ? "warn" : "debug"]?.(
          `tokenkit: refresh ${event.cause} ${event.outcome} in ${event.latencyMs} ms${event.fingerprint ? ` (token ${event.fingerprint})` : ""}`,
        );
        break;
      case "refresh_retry":
        logger?.warn?.(`tokenkit: refresh failed (${Code[event.error.code]}); retry ${event.attempt} in ${event.delayMs} ms`);
        break;
      case "persist_failed":
        logger?.warn?.(`tokenkit: saving the token failed (attempt ${event.attempt}); will retry`);
        break;
      case "session_expired":
        logger?.error?.(`tokenkit: session expired (${AuthErrorReason[event.reason]}); a new login is needed`);
        break;
      case "visibility":
        logger?.debug?.(`tokenkit: page ${event.visible ? "visible: checking freshness" : "hidden: refresh timer suspended"}`);
        break;
      case "wake":
        logger?.debug?.(`tokenkit: woke from sleep (timer ${event.lateMs} ms late): checking freshness`);
        break;
    }
  }

  function install(next: StoredToken): void {
    token = { ...next };
    generation++;
    point = refreshPoint(token, policy, random());
    freshness?.rearm();
  }

  function ensureLoaded(): Promise<void> {
    if (loaded) {
      return Promise.resolve();
    }
    loading ??= store!
      .load()
      .then(
        (stored) => {
          if (stored !== undefined && token === undefined) {
            install(stored);
          }
        },
        (err: unknown) => logger?.warn?.("tokenkit: loading the stored token failed", err),
      )
      .finally(() => {
        loaded = true;
      });
    return loading;
  }

  function persist(next: StoredToken): Promise<void> {
    if (store === undefined) {
      return Promise.resolve();
    }
    return store.save(next).then(
      () => {
        if (persistPending === next) {
          persistPending = undefined;
        }
        persistAttempt = 0;
      },
      (error: unknown) => {
        persistPending = next;
        persistAttempt++;
        emit({ type: "persist_failed", attempt: persistAttempt, error });
        if (persistTimer === undefined && state === "active") {
          persistTimer = clock.setTimeout(() => {
            persistTimer = undefined;
            if (persistPending !== undefined && state === "active") {
              void persist(persistPending);
            }
          }, backoffDelay(persistAttempt, random(), backoff));
        }
      },
    );
  }

  function expire(err: ConnectError): ConnectError {
    const reason = authErrorReason(err) ?? AuthErrorReason.SESSION_EXPIRED;
    terminal = authError(reason, `session expired: ${err.rawMessage}`);
    state = "session_expired";
    clearRetry();
    freshness?.rearm();
    emit({ type: "session_expired", reason, error: terminal });
    return terminal;
  }

  function clearRetry(): void {
    if (retryTimer !== undefined) {
      clock.clearTimeout(retryTimer);
      retryTimer = undefined;
    }
  }

  function scheduleRetry(err: ConnectError): void {
    attempt++;
    const delayMs = backoffDelay(attempt, random(), backoff);
    retryAt = clock.now() + delayMs;
    emit({ type: "refresh_retry", attempt, delayMs, error: err });
    clearRetry();
    retryTimer = clock.setTimeout(() => {
      retryTimer = undefined;
      if (state === "active" && inflight === undefined) {
        refresh("proactive").catch(() => {});
      }
    }, delayMs);
  }

  /** Adopts a pair another process (or tab) saved, if it is newer than ours. */
  async function adoptFromStore(): Promise<boolean> {
    if (store === undefined) {
      return false;
    }
    const stored = await store.load().catch(() => undefined);
    if (stored !== undefined && stored.accessToken !== token?.accessToken && stored.receivedAt >= (token?.receivedAt ?? -Infinity)) {
      install(stored);
      return true;
    }
    return false;
  }

  /** Adopts a pair that another process or tab announced through `store.subscribe`, if it is newer than ours. */
  function adoptNotified(stored: StoredToken | undefined): void {
    if (stored === undefined || state === "closed") {
      return;
    }
    if (stored.accessToken === token?.accessToken || stored.receivedAt < (token?.receivedAt ?? -Infinity)) {
      return;
    }
    loaded = true;
    install(stored);
    if (state === "session_expired") {
      // A pair saved after our session ended is a new login elsewhere.
      state = "active";
      terminal = undefined;
    }
    attempt = 0;
    lastError = undefined;
    clearRetry();
    emit({ type: "refresh", cause: "notified", outcome: "adopted", latencyMs: 0, fingerprint: fingerprint(stored.accessToken) });
  }

  /** The autoRefresh check: refresh once past the refresh point (or a due retry), else wait for the point. */
  function checkFreshness(): void {
    if (state !== "active" || inflight !== undefined) {
      return;
    }
    if (!loaded) {
      void ensureLoaded().then(checkFreshness);
      return;
    }
    const now = clock.now();
    if (retryTimer !== undefined) {
      if (now < retryAt) {
        return;
      }
      // The backoff timer was throttled or frozen with the page: retry now.
      clearRetry();
    }
    if (token !== undefined && now >= point) {
      refresh("scheduled").catch(() => {});
    } else {
      freshness?.rearm();
    }
  }

  function refresh(cause: RefreshCause, force = false): Promise<StoredToken> {
    if (inflight !== undefined) {
      return inflight;
    }
    // The generation this refresh may replace; adopting from the store inside it moves it forward.
    let baseGen = generation;
    const started = clock.now();
    const controller = new AbortController();
    const timeout = clock.setTimeout(
      () => controller.abort(new ConnectError(`token refresh timed out after ${refreshTimeoutMs} ms`, Code.DeadlineExceeded)),
      refreshTimeoutMs,
    );
    inflightAbort = controller;

    const startGen = generation;
    const attemptOnce = async (): Promise<{ next: StoredToken; adopted: boolean }> => {
      // A newer pair may have arrived while this refresh waited for the lock: read from the
      // store now, or announced through `store.subscribe` (then the store holds nothing newer).
      if ((await adoptFromStore()) || generation !== startGen) {
        baseGen = generation;
        const adopted = token!;
        // A forced refresh wanted a token other than ours, and adoption gave one; otherwise refresh only if the adopted token is stale too.
        const stillNeeded = !force && (clock.now() >= point || !isUsable(adopted, clock.now(), policy));
        if (!stillNeeded) {
          return { next: adopted, adopted: true };
        }
      }
      const next = await options.refresh(token, { signal: controller.signal, cause });
      if (controller.signal.aborted) {
        throw ConnectError.from(controller.signal.reason, Code.DeadlineExceeded);
      }
      await persist(next);
      return { next, adopted: false };
    };

    const run = async (): Promise<StoredToken> => {
      try {
        const { next, adopted } = store?.lock ? await store.lock(attemptOnce, { signal: controller.signal }) : await attemptOnce();
        if (state !== "active") {
          throw terminal ?? new ConnectError("token source is closed", Code.Canceled);
        }
        if (!adopted && generation === baseGen) {
          install(next);
        } else if (!adopted && token?.accessToken !== next.accessToken) {
          // A newer token arrived (setToken or adoption) while this refresh ran: keep the newer one.
          logger?.debug?.("tokenkit: a refresh for an older token generation finished late; ignored");
        }
        attempt = 0;
        lastError = undefined;
        clearRetry();
        emit({ type: "refresh", cause, outcome: adopted ? "adopted" : "success", latencyMs: clock.now() - started, fingerprint: fingerprint(token!.accessToken) });
        return token!;
      } catch (e) {
        const err = ConnectError.from(e, Code.Unavailable);
        if (state !== "active") {
          throw state === "closed" ? new ConnectError("token source is closed", Code.Canceled) : terminal!;
        }
        if (isTerminalRefreshError(err)) {
          // Another process may have rotated the pair we just spent: adopt it instead of ending the session.
          if (await adoptFromStore()) {
            emit({ type: "refresh", cause, outcome: "adopted", latencyMs: clock.now() - started, fingerprint: fingerprint(token!.accessToken) });
            return token!;
          }
          emit({ type: "refresh", cause, outcome: "terminal_failure", latencyMs: clock.now() - started, error: err });
          throw expire(err);
        }
        lastError = err;
        emit({ type: "refresh", cause, outcome: "transient_failure", latencyMs: clock.now() - started, error: err });
        scheduleRetry(err);
        throw err;
      } finally {
        clock.clearTimeout(timeout);
        inflight = undefined;
        inflightAbort = undefined;
      }
    };
    inflight = run();
    inflight.catch(() => {});
    return inflight;
  }

  function closedError(): ConnectError {
    return new ConnectError("token source is closed", Code.Canceled);
  }

  /** The synchronous fast path: a usable token, with a background refresh past the refresh point. */
  function peekToken(): string | undefined {
    if (state !== "active" || !loaded) {
      return undefined;
    }
    const now = clock.now();
    if (!isUsable(token, now, policy)) {
      return undefined;
    }
    if (now >= point && inflight === undefined && retryTimer === undefined) {
      refresh("proactive").catch(() => {});
    }
    return token.accessToken;
  }

  async function slowGetToken(opts: GetTokenOptions): Promise<string> {
    await ensureLoaded();
    if (state === "closed") {
      throw closedError();
    }
    if (state === "session_expired") {
      throw terminal!;
    }
    const now = clock.now();
    if (opts.forceRefresh) {
      if (opts.failedToken !== undefined && token !== undefined && token.accessToken !== opts.failedToken && isUsable(token, now, policy)) {
        return token.accessToken;
      }
      if (inflight === undefined && now - lastForcedAt < minForcedMs && isUsable(token, now, policy)) {
        return token.accessToken;
      }
      if (inflight === undefined) {
        lastForcedAt = now;
      }
      return (await waitFor(refresh("reactive", true), opts.signal)).accessToken;
    }
    const fast = peekToken();
    if (fast !== undefined) {
      return fast;
    }
    if (inflight === undefined && lastError !== undefined && now < retryAt) {
      // The token server is failing and our token is no longer usable: fail fast until the next retry.
      throw lastError;
    }
    return (await waitFor(refresh("initial"), opts.signal)).accessToken;
  }

  const unsubscribe = store?.subscribe?.(adoptNotified);
  if (autoRefresh !== undefined) {
    freshness = createFreshnessTimer(autoRefresh, {
      clock,
      dueAt: () => (state === "active" && token !== undefined ? point : undefined),
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
    current: () => (token === undefined ? undefined : { ...token }),
    async setToken(next) {
      if (state === "closed") {
        throw closedError();
      }
      loaded = true;
      install(next);
      state = "active";
      terminal = undefined;
      attempt = 0;
      lastError = undefined;
      clearRetry();
      await persist(token!);
    },
    get state() {
      return state;
    },
    close() {
      state = "closed";
      clearRetry();
      freshness?.stop();
      unsubscribe?.();
      if (persistTimer !== undefined) {
        clock.clearTimeout(persistTimer);
        persistTimer = undefined;
      }
      inflightAbort?.abort(closedError());
    },
  };
}

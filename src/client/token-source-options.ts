import { systemClock, type Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { normalizeAutoRefresh, type AutoRefreshOptions } from "./freshness-timer.js";
import type { RefreshFunction } from "./refresh-function.js";
import { normalizeRefreshPolicy, type BackoffOptions, type RefreshPolicy, type RefreshPolicyOptions } from "./refresh-policy.js";
import type { TokenSourceEvent } from "./token-events.js";
import type { StoredToken, TokenStore } from "./token-store.js";

/** TokenSourceOptions configures {@link createTokenSource}. */
export interface TokenSourceOptions extends RefreshPolicyOptions {
  /**
   * refresh obtains a new pair: `createTokenServiceRefresher({ baseUrl })` for a tokenkit server,
   * or your own function following the {@link RefreshFunction} failure contract. Required.
   */
  refresh: RefreshFunction;
  /**
   * refreshToken starts the source from a refresh token alone (from `IssueToken`, a login, a
   * file): the first call refreshes. With a `store`, a pair already stored wins — the refresh
   * token only seeds an empty store, so a restarted process goes on with the rotated pair instead
   * of presenting a spent token. Not with `initial`.
   * @default none
   */
  refreshToken?: string;
  /** initial is the pair to start from (it wins over the store). Not with `refreshToken`. @default none: the store, else `refreshToken` */
  initial?: StoredToken;
  /**
   * store persists every new pair and is re-read before each refresh; a store with `lock`
   * makes "re-read → refresh if still needed → write" exclusive across processes (or tabs:
   * `createCrossTabTokenStore`), and one with `subscribe` lets the source adopt a pair another
   * process or tab saved as soon as it is announced (also ending a session-expired state: a new
   * login there) and sign out when another one signs out.
   * @default none — the token lives in this source only; a restarted process starts over
   */
  store?: TokenStore;
  /**
   * autoRefresh refreshes at the refresh point even when no call asks for a token, so an idle
   * page still holds a fresh token (and, with a cross-tab store, hands it to the other tabs).
   * The timer is suspended while the page is hidden and checks freshness once when the page is
   * visible again or the machine wakes from sleep; see {@link AutoRefreshOptions}.
   * @default false — refreshes happen only when a call needs a token (in the background past the refresh point)
   */
  autoRefresh?: boolean | AutoRefreshOptions;
  /**
   * refreshTimeoutMs bounds each shared refresh. It belongs to the refresh, not to a caller, so a
   * caller's short deadline never kills it; waiters fail with `DeadlineExceeded` at the timeout
   * even if the refresh function ignores its signal.
   * @default 30 000
   */
  refreshTimeoutMs?: number;
  /** backoff shapes retries after transient refresh failures. @default { initialMs: 1000, maxMs: 60 000 } */
  backoff?: BackoffOptions;
  /**
   * minForcedRefreshIntervalMs rate-limits forced (reactive) refreshes, so a server that rejects
   * every token cannot cause a refresh storm.
   * @default 10 000
   */
  minForcedRefreshIntervalMs?: number;
  /** clock supplies time and timers. @default systemClock */
  clock?: Clock;
  /** random returns numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /** onEvent observes refreshes, retries, persist failures, terminal states and sign-out; an observer that throws is ignored. @default none */
  onEvent?: (event: TokenSourceEvent) => void;
  /** logger receives the same events as text (console or pino); never token text. @default none */
  logger?: Logger;
}

/** SourceSettings are {@link TokenSourceOptions} validated once, with every default applied. */
export interface SourceSettings {
  refresh: RefreshFunction;
  seed: StoredToken | undefined;
  /** seedWins: the seed is an explicit `initial` pair (else it only fills an empty store). */
  seedWins: boolean;
  store: TokenStore | undefined;
  autoRefresh: ReturnType<typeof normalizeAutoRefresh>;
  policy: RefreshPolicy;
  refreshTimeoutMs: number;
  backoff: BackoffOptions;
  minForcedMs: number;
  clock: Clock;
  random: () => number;
  onEvent: ((event: TokenSourceEvent) => void) | undefined;
  logger: Logger | undefined;
}

/** normalizeSourceOptions validates `options` (TypeError naming the option) and applies the defaults. */
export function normalizeSourceOptions(options: TokenSourceOptions): SourceSettings {
  const who = "createTokenSource";
  if (typeof options?.refresh !== "function") {
    throw new TypeError(`${who}: option "refresh" must be a function`);
  }
  const refreshTimeoutMs = options.refreshTimeoutMs ?? 30_000;
  if (!Number.isFinite(refreshTimeoutMs) || refreshTimeoutMs <= 0) {
    throw new TypeError(`${who}: option "refreshTimeoutMs" must be a positive number`);
  }
  const minForcedMs = options.minForcedRefreshIntervalMs ?? 10_000;
  if (!Number.isFinite(minForcedMs) || minForcedMs < 0) {
    throw new TypeError(`${who}: option "minForcedRefreshIntervalMs" must be a non-negative number`);
  }
  if (options.refreshToken !== undefined && (typeof options.refreshToken !== "string" || options.refreshToken === "")) {
    throw new TypeError(`${who}: option "refreshToken" must be a non-empty string`);
  }
  if (options.refreshToken !== undefined && options.initial !== undefined) {
    throw new TypeError(`${who}: options "refreshToken" and "initial" exclude each other`);
  }
  const seed =
    options.initial !== undefined
      ? { ...options.initial }
      : options.refreshToken !== undefined
        ? { accessToken: "", refreshToken: options.refreshToken, receivedAt: 0, expiresAt: 0 }
        : undefined;
  return {
    refresh: options.refresh,
    seed,
    seedWins: options.initial !== undefined,
    store: options.store,
    autoRefresh: normalizeAutoRefresh(options.autoRefresh, who),
    policy: normalizeRefreshPolicy(options, who),
    refreshTimeoutMs,
    backoff: options.backoff ?? {},
    minForcedMs,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    onEvent: options.onEvent,
    logger: options.logger,
  };
}

import { createHash } from "node:crypto";
import type { Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import type { KeyRing } from "./keys/key-ring.js";
import type { RevocationCache } from "./revocation-cache.js";
import type { FamilyStore } from "./store/family-store.js";
import { HARD_MAX_ACCESS_TTL_SECONDS, HARD_MAX_REFRESH_TTL_SECONDS, MIN_REFRESH_TTL_SECONDS, type TtlLimits } from "./ttl-policy.js";

/** DEFAULT_GRACE_PERIOD_SECONDS is the grace window when none is configured (docs/DESIGN.md §4). */
export const DEFAULT_GRACE_PERIOD_SECONDS = 30;

/**
 * MAX_GRACE_PERIOD_SECONDS is the longest grace window a token service
 * accepts. The store janitor keeps sealed successor pairs this long, so no
 * configuration of the service can outlast the boxes it needs.
 */
export const MAX_GRACE_PERIOD_SECONDS = 300;

/**
 * MAX_CLOCK_TOLERANCE_SECONDS is the largest clock tolerance a token service
 * accepts. Records that decide whether a token is still honoured (refresh
 * records, revocations) are kept this much past the token's expiry.
 */
export const MAX_CLOCK_TOLERANCE_SECONDS = 3600;

/** TokenServiceOptions configures {@link createTokenService}. All durations are seconds. */
export interface TokenServiceOptions {
  /** store keeps token families; it must rotate atomically. Required. */
  store: FamilyStore;
  /** keyRing signs and verifies tokens. Required. */
  keyRing: KeyRing;
  /** issuer is the `iss` of every token, e.g. `https://auth.example.com`. Required. */
  issuer: string;
  /**
   * audience is the `aud` of access tokens issued without audiences, and the
   * audience a bearer token must carry to call ExchangeToken/IssueToken.
   * @default the issuer
   */
  audience?: string;
  /**
   * adminKey authorizes IssueToken through the `x-api-key` header. Without it
   * only bearers with scope `tokens:issue` can issue.
   * Security: treat it like a root password; it is compared in constant time.
   * @default none
   */
  adminKey?: string;
  /** accessTtlSeconds is the access-token lifetime when a request sets none. @default 3600 */
  accessTtlSeconds?: number;
  /**
   * maxAccessTtlSeconds caps requested access lifetimes, at most 7 776 000
   * (90 days). Revocation caches keep a revoked session for as long as its
   * access tokens can live, so long access tokens cost memory only while
   * revoked sessions' tokens are still alive.
   * @default 86 400
   */
  maxAccessTtlSeconds?: number;
  /** defaultRefreshTtlSeconds is the refresh TTL when a request sets none. @default 86 400 (24 h) */
  defaultRefreshTtlSeconds?: number;
  /** maxRefreshTtlSeconds caps requested refresh TTLs; at most 7 776 000 (90 days). @default 7 776 000 */
  maxRefreshTtlSeconds?: number;
  /**
   * gracePeriodSeconds is how long re-presenting the immediate predecessor of
   * the current refresh token returns the identical successor pair (a client
   * whose response was lost is not punished), 0–300.
   * @default 30
   */
  gracePeriodSeconds?: number;
  /**
   * absoluteLifetimeSeconds caps a family's whole life: no refresh or access
   * token outlives `created + absoluteLifetimeSeconds`.
   * @default none — unattended hosts renew indefinitely.
   */
  absoluteLifetimeSeconds?: number;
  /** clockToleranceSeconds is the skew allowed when verifying `exp`/`iat`, 0–3600. @default 60 */
  clockToleranceSeconds?: number;
  /** revocations is told about revocations at once, so this process's interceptors reject revoked families immediately. @default none */
  revocations?: RevocationCache;
  /** clock supplies the time. @default systemClock */
  clock?: Clock;
  /** logger receives security events (reuse detected, revocations) — never token text. @default none */
  logger?: Logger;
}

/** TokenServiceSettings are {@link TokenServiceOptions} validated, with every default applied. */
export interface TokenServiceSettings {
  /** audience is the default `aud` and the audience bearers must carry. */
  audience: string;
  /** adminKeyDigest is SHA-256 of the admin key, if one is set. */
  adminKeyDigest?: Buffer;
  /** limits are the TTL defaults and caps. */
  limits: TtlLimits;
  /** graceSeconds is the grace window. */
  graceSeconds: number;
  /** absoluteLifetimeSeconds caps a family's life, if set. */
  absoluteLifetimeSeconds?: number;
  /** toleranceSeconds is the verification clock tolerance. */
  toleranceSeconds: number;
}

/** TokenRuleOptions are the options the {@link TokenRules} come from: lifetimes, grace window, tolerance. */
export type TokenRuleOptions = Pick<
  TokenServiceOptions,
  | "accessTtlSeconds"
  | "maxAccessTtlSeconds"
  | "defaultRefreshTtlSeconds"
  | "maxRefreshTtlSeconds"
  | "gracePeriodSeconds"
  | "absoluteLifetimeSeconds"
  | "clockToleranceSeconds"
>;

/** TokenRules are {@link TokenRuleOptions} validated, with every default applied; all in whole seconds. */
export interface TokenRules {
  accessTtlSeconds: number;
  maxAccessTtlSeconds: number;
  defaultRefreshTtlSeconds: number;
  maxRefreshTtlSeconds: number;
  gracePeriodSeconds: number;
  absoluteLifetimeSeconds: number | undefined;
  clockToleranceSeconds: number;
}

/**
 * TokenRuleFailure builds the error for an option outside `[min, max]` whole
 * seconds (`max` undefined: no upper bound), in the words of its caller: the
 * token service names its option, `tokenkit serve` the flag.
 */
export type TokenRuleFailure = (name: keyof TokenRuleOptions, min: number, max: number | undefined) => Error;

/**
 * normalizeTokenRules validates the token rules once — each a whole number of
 * seconds within its bounds, caps first so that the values they cap are checked
 * against them — and applies the defaults: access TTL 1 h, refresh TTL 24 h,
 * grace 30 s, tolerance 60 s, no absolute lifetime.
 */
export function normalizeTokenRules(options: TokenRuleOptions, failure: TokenRuleFailure): TokenRules {
  const seconds = (name: keyof TokenRuleOptions, dflt: number, min: number, max?: number): number => {
    const v = options[name] ?? dflt;
    if (!Number.isSafeInteger(v) || v < min || v > (max ?? Number.MAX_SAFE_INTEGER)) {
      throw failure(name, min, max);
    }
    return v;
  };
  const maxAccess = seconds("maxAccessTtlSeconds", 86_400, 1, HARD_MAX_ACCESS_TTL_SECONDS);
  const maxRefresh = seconds("maxRefreshTtlSeconds", HARD_MAX_REFRESH_TTL_SECONDS, MIN_REFRESH_TTL_SECONDS, HARD_MAX_REFRESH_TTL_SECONDS);
  return {
    maxAccessTtlSeconds: maxAccess,
    accessTtlSeconds: seconds("accessTtlSeconds", 3600, 1, maxAccess),
    maxRefreshTtlSeconds: maxRefresh,
    defaultRefreshTtlSeconds: seconds("defaultRefreshTtlSeconds", 86_400, MIN_REFRESH_TTL_SECONDS, maxRefresh),
    gracePeriodSeconds: seconds("gracePeriodSeconds", DEFAULT_GRACE_PERIOD_SECONDS, 0, MAX_GRACE_PERIOD_SECONDS),
    absoluteLifetimeSeconds: options.absoluteLifetimeSeconds === undefined ? undefined : seconds("absoluteLifetimeSeconds", 0, 60),
    clockToleranceSeconds: seconds("clockToleranceSeconds", 60, 0, MAX_CLOCK_TOLERANCE_SECONDS),
  };
}

/** The token service's words for an option out of range. */
const serviceFailure: TokenRuleFailure = (name, min, max) =>
  new TypeError(`createTokenService: option "${name}" must be an integer number of seconds in [${min}, ${max ?? Number.MAX_SAFE_INTEGER}]`);

/**
 * normalizeTokenServiceOptions validates `options` once (a caller mistake
 * throws `TypeError` quoting the option name) and applies every default.
 */
export function normalizeTokenServiceOptions(options: TokenServiceOptions): TokenServiceSettings {
  const { store, keyRing, issuer } = options ?? {};
  if (store === undefined) {
    throw new TypeError('createTokenService: option "store" is required');
  }
  if (keyRing === undefined) {
    throw new TypeError('createTokenService: option "keyRing" is required');
  }
  if (typeof issuer !== "string" || issuer === "") {
    throw new TypeError('createTokenService: option "issuer" must be a non-empty string');
  }
  if (options.adminKey !== undefined && options.adminKey.length < 16) {
    throw new TypeError('createTokenService: option "adminKey" must be at least 16 characters');
  }
  const rules = normalizeTokenRules(options, serviceFailure);
  const settings: TokenServiceSettings = {
    audience: options.audience ?? issuer,
    limits: {
      accessTtlSeconds: rules.accessTtlSeconds,
      maxAccessTtlSeconds: rules.maxAccessTtlSeconds,
      defaultRefreshTtlSeconds: rules.defaultRefreshTtlSeconds,
      maxRefreshTtlSeconds: rules.maxRefreshTtlSeconds,
    },
    graceSeconds: rules.gracePeriodSeconds,
    toleranceSeconds: rules.clockToleranceSeconds,
  };
  if (rules.absoluteLifetimeSeconds !== undefined) {
    settings.absoluteLifetimeSeconds = rules.absoluteLifetimeSeconds;
  }
  if (options.adminKey !== undefined) {
    settings.adminKeyDigest = createHash("sha256").update(options.adminKey).digest();
  }
  return settings;
}

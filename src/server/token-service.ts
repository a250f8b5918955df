import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { decodeProtectedHeader, type JWTPayload } from "jose";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import {
  TokenPairSchema,
  TokenService,
  type TokenPair,
} from "../../gen/tokenkit/v1/token_service_pb.js";
import { authError } from "../auth-error.js";
import { systemClock, type Clock } from "../lib/clock.js";
import type { Logger } from "../lib/logger.js";
import { authenticateBearer, requireScopes, toAuthError } from "./bearer.js";
import { createFamilyCache } from "./family-cache.js";
import { hashToken, openForToken, sealForToken } from "./grace-box.js";
import { createAccessTokenVerifier } from "./jwt/access-token-verifier.js";
import {
  ACCESS_TOKEN_TYPE,
  MAX_ACTOR_DEPTH,
  MAX_TOKEN_BYTES,
  REFRESH_TOKEN_TYPE,
  actorDepth,
} from "./jwt/claims.js";
import { createTokenVerifier, TokenVerificationError } from "./jwt/token-verifier.js";
import type { KeyRing } from "./keys/key-ring.js";
import { checkIdentifier, checkMetadata, checkNames } from "./request-limits.js";
import type { RevocationCache } from "./revocation-cache.js";
import type { FamilyRecord, FamilyStore, RefreshRecord, RotateResult } from "./store/family-store.js";
import { createTokenSigner } from "./token-signer.js";
import { HARD_MAX_REFRESH_TTL_SECONDS, resolveTtls, type TtlLimits } from "./ttl-policy.js";

/** SCOPE_ISSUE lets a bearer call IssueToken (besides the admin key). */
export const SCOPE_ISSUE = "tokens:issue";
/** SCOPE_EXCHANGE lets a bearer call ExchangeToken. */
export const SCOPE_EXCHANGE = "tokens:exchange";

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
  /** maxAccessTtlSeconds caps requested access lifetimes. @default 86 400 */
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
   * absoluteLifetimeSeconds caps a family's whole life: no refresh token
   * outlives `created + absoluteLifetimeSeconds`.
   * @default none — unattended hosts renew indefinitely.
   */
  absoluteLifetimeSeconds?: number;
  /** clockToleranceSeconds is the skew allowed when verifying `exp`/`iat`. @default 60 */
  clockToleranceSeconds?: number;
  /** revocations is told about revocations at once, so this process's interceptors reject revoked families immediately. @default none */
  revocations?: RevocationCache;
  /** clock supplies the time. @default systemClock */
  clock?: Clock;
  /** logger receives security events (reuse detected, revocations) — never token text. @default none */
  logger?: Logger;
}

/** refreshTokenAudience is the `aud` of refresh tokens: the token service of `issuer`, and nothing else. */
export function refreshTokenAudience(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/${TokenService.typeName}`;
}

function positiveSeconds(name: string, value: number | undefined, dflt: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const v = value ?? dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new TypeError(`createTokenService: option "${name}" must be an integer number of seconds in [${min}, ${max}]`);
  }
  return v;
}

/**
 * createTokenService returns the implementation of `tokenkit.v1.TokenService`
 * with every rule of DESIGN §3–§4: TTL defaults and caps reported back,
 * refresh TTL, scopes, audiences, metadata and actor chain carried unchanged
 * through every rotation, one atomic compare-and-swap per rotation, the
 * idempotent grace window returning the identical pair, reuse detection that
 * revokes the family and its delegated children, RFC 7009 revocation and
 * RFC 8693 delegation. Register it with `router.service(TokenService, impl)`.
 */
export function createTokenService(options: TokenServiceOptions): ServiceImpl<typeof TokenService> {
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
  const audience = options.audience ?? issuer;
  const maxAccess = positiveSeconds("maxAccessTtlSeconds", options.maxAccessTtlSeconds, 86_400);
  const maxRefresh = positiveSeconds("maxRefreshTtlSeconds", options.maxRefreshTtlSeconds, HARD_MAX_REFRESH_TTL_SECONDS, 60, HARD_MAX_REFRESH_TTL_SECONDS);
  const limits: TtlLimits = {
    accessTtlSeconds: positiveSeconds("accessTtlSeconds", options.accessTtlSeconds, 3600, 1, maxAccess),
    maxAccessTtlSeconds: maxAccess,
    defaultRefreshTtlSeconds: positiveSeconds("defaultRefreshTtlSeconds", options.defaultRefreshTtlSeconds, 86_400, 60, maxRefresh),
    maxRefreshTtlSeconds: maxRefresh,
  };
  const grace = positiveSeconds("gracePeriodSeconds", options.gracePeriodSeconds, 30, 0, 300);
  const absolute =
    options.absoluteLifetimeSeconds === undefined
      ? undefined
      : positiveSeconds("absoluteLifetimeSeconds", options.absoluteLifetimeSeconds, 0, 60);
  const tolerance = positiveSeconds("clockToleranceSeconds", options.clockToleranceSeconds, 60, 0, 3600);
  const clock = options.clock ?? systemClock;
  const { revocations, logger } = options;
  const adminKeyDigest = options.adminKey === undefined ? undefined : createHash("sha256").update(options.adminKey).digest();

  const rtAudience = refreshTokenAudience(issuer);
  const sign = createTokenSigner(keyRing);
  const verifyRefresh = createTokenVerifier({ keys: keyRing, typ: REFRESH_TOKEN_TYPE, issuer, audience: rtAudience, clockToleranceSeconds: tolerance, clock });
  const verifyAccess = createAccessTokenVerifier({ keys: keyRing, issuer, audience, clockToleranceSeconds: tolerance, clock });
  const nowSeconds = () => Math.floor(clock.now() / 1000);
  // Immutable family fields, so the common rotation is one store round trip.
  const families = createFamilyCache(10_000);
  const newId = () => randomBytes(16).toString("base64url");

  /** Signs a new pair for `family` at `now` and returns it with the refresh record to store. */
  async function mint(family: FamilyRecord, now: number): Promise<{ pair: TokenPair; record: Omit<RefreshRecord, "generation"> }> {
    const cap = family.absoluteExpiresAt ?? Number.MAX_SAFE_INTEGER;
    const accessExp = Math.min(now + family.accessTtlSeconds, cap);
    const refreshExp = Math.min(now + family.refreshTtlSeconds, cap);
    const access: Record<string, unknown> = {
      iss: issuer,
      sub: family.subject,
      aud: family.audiences.length === 1 ? family.audiences[0] : family.audiences,
      exp: accessExp,
      iat: now,
      jti: newId(),
      sid: family.sid,
      scope: family.scopes.join(" "),
      refresh_ttl: family.refreshTtlSeconds,
      meta: family.metadata,
    };
    if (family.actor !== undefined) {
      access.act = family.actor;
    }
    const refresh = {
      iss: issuer,
      sub: family.subject,
      aud: rtAudience,
      sid: family.sid,
      jti: newId(),
      iat: now,
      exp: refreshExp,
      refresh_ttl: family.refreshTtlSeconds,
    };
    const [accessToken, refreshToken] = await Promise.all([sign(access, ACCESS_TOKEN_TYPE), sign(refresh, REFRESH_TOKEN_TYPE)]);
    if (accessToken.length > MAX_TOKEN_BYTES) {
      throw new ConnectError(`the requested claims make an access token larger than ${MAX_TOKEN_BYTES} bytes`, Code.InvalidArgument);
    }
    const pair = create(TokenPairSchema, {
      accessToken,
      refreshToken,
      tokenType: "Bearer",
      expiresInSeconds: BigInt(accessExp - now),
      accessTokenExpireTime: timestampFromMs(accessExp * 1000),
      refreshTokenExpireTime: timestampFromMs(refreshExp * 1000),
      refreshTokenTtlSeconds: BigInt(family.refreshTtlSeconds),
      sessionId: family.sid,
      scopes: family.scopes,
    });
    return { pair, record: { hash: hashToken(refreshToken), sid: family.sid, issuedAt: now, expiresAt: refreshExp } };
  }

  function checkAdminKey(presented: string): boolean {
    if (adminKeyDigest === undefined) {
      return false;
    }
    return timingSafeEqual(createHash("sha256").update(presented).digest(), adminKeyDigest);
  }

  async function authorizeIssue(ctx: HandlerContext): Promise<void> {
    const apiKey = ctx.requestHeader.get("x-api-key");
    if (apiKey !== null) {
      if (checkAdminKey(apiKey)) {
        return;
      }
      throw authError(AuthErrorReason.TOKEN_INVALID, "x-api-key does not match the admin key");
    }
    if (ctx.requestHeader.get("authorization") === null) {
      throw authError(AuthErrorReason.TOKEN_MISSING, `IssueToken needs the admin key in x-api-key or a bearer token with scope "${SCOPE_ISSUE}"`);
    }
    requireScopes(await authenticateBearer(ctx.requestHeader, verifyAccess, revocations), [SCOPE_ISSUE]);
  }

  function newFamily(fields: Omit<FamilyRecord, "sid" | "createdAt" | "absoluteExpiresAt">, now: number): FamilyRecord {
    const family: FamilyRecord = { ...fields, sid: newId(), createdAt: now };
    if (absolute !== undefined) {
      family.absoluteExpiresAt = now + absolute;
    }
    return family;
  }

  async function startFamily(family: FamilyRecord, now: number): Promise<TokenPair> {
    const { pair, record } = await mint(family, now);
    await store.createFamily(family, record);
    families.set(family);
    return pair;
  }

  function revoked(sids: readonly string[], now: number): void {
    if (sids.length > 0) {
      revocations?.add(sids, now);
    }
  }

  async function outcome(token: string, result: RotateResult, now: number): Promise<TokenPair> {
    switch (result.kind) {
      case "grace":
        try {
          return fromBinary(TokenPairSchema, openForToken(token, result.box));
        } catch (err) {
          throw new ConnectError("stored successor pair cannot be opened", Code.DataLoss, undefined, undefined, err);
        }
      case "reused":
        revoked(result.revokedSids, now);
        logger?.warn?.("tokenkit: refresh token reuse detected; session revoked", { sids: result.revokedSids });
        throw authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "refresh token was already used; the session is revoked and a new login is needed");
      case "revoked":
        if (result.reason === "reused") {
          throw authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "the session was revoked after refresh token reuse; a new login is needed");
        }
        throw authError(AuthErrorReason.TOKEN_REVOKED, "the session was revoked; a new login is needed");
      case "unknown":
        throw authError(AuthErrorReason.TOKEN_INVALID, "refresh token is not known to this server");
      case "current":
      case "rotated":
        throw new ConnectError("refresh token rotation conflicted with another rotation; retry", Code.Aborted);
    }
  }

  return {
    async issueToken(req, ctx) {
      await authorizeIssue(ctx);
      const now = nowSeconds();
      const ttls = resolveTtls(req, limits);
      const audiences = checkNames("audiences", req.audiences);
      const family = newFamily(
        {
          subject: checkIdentifier("subject", req.subject),
          scopes: checkNames("scopes", req.scopes),
          audiences: audiences.length > 0 ? audiences : [audience],
          metadata: checkMetadata(req.metadata),
          accessTtlSeconds: ttls.accessTtlSeconds,
          refreshTtlSeconds: ttls.refreshTtlSeconds,
        },
        now,
      );
      return { tokenPair: await startFamily(family, now) };
    },

    async exchangeToken(req, ctx) {
      const caller = await authenticateBearer(ctx.requestHeader, verifyAccess, revocations);
      requireScopes(caller, [SCOPE_EXCHANGE]);
      const actor = checkIdentifier("actor", req.actor);
      const scopes = checkNames("scopes", req.scopes);
      const audiences = checkNames("audiences", req.audiences);
      const extraScopes = scopes.filter((s) => !caller.scopes.includes(s));
      if (extraScopes.length > 0) {
        throw authError(AuthErrorReason.INSUFFICIENT_SCOPE, `cannot delegate scopes the caller does not hold: ${extraScopes.join(", ")}`);
      }
      const extraAudiences = audiences.filter((a) => !caller.aud.includes(a));
      if (extraAudiences.length > 0) {
        throw authError(AuthErrorReason.INSUFFICIENT_SCOPE, `cannot delegate audiences the caller does not hold: ${extraAudiences.join(", ")}`);
      }
      const act = caller.act === undefined ? { sub: actor } : { sub: actor, act: caller.act };
      if (actorDepth(act) > MAX_ACTOR_DEPTH) {
        throw new ConnectError(`delegation chain would be deeper than ${MAX_ACTOR_DEPTH} actors`, Code.InvalidArgument);
      }
      const ttls = resolveTtls(req, limits);
      const metadata = checkMetadata({ ...caller.meta, ...req.metadata });
      const parent = await store.getFamily(caller.sid);
      if (parent === undefined || parent.revokedAt !== undefined) {
        throw authError(AuthErrorReason.TOKEN_REVOKED, "the caller's session is revoked or unknown");
      }
      const now = nowSeconds();
      const family = newFamily(
        {
          subject: caller.sub,
          scopes: scopes.length > 0 ? scopes : caller.scopes,
          audiences: audiences.length > 0 ? audiences : caller.aud,
          metadata,
          actor: act,
          accessTtlSeconds: ttls.accessTtlSeconds,
          refreshTtlSeconds: ttls.refreshTtlSeconds,
          parentSid: caller.sid,
        },
        now,
      );
      return { tokenPair: await startFamily(family, now) };
    },

    async refreshToken(req) {
      const token = req.refreshToken;
      if (token === "") {
        throw new ConnectError("refresh_token is required", Code.InvalidArgument);
      }
      let claims: JWTPayload;
      try {
        claims = await verifyRefresh(token);
      } catch (err) {
        if (err instanceof TokenVerificationError && err.reason === AuthErrorReason.TOKEN_EXPIRED) {
          throw authError(AuthErrorReason.SESSION_EXPIRED, "refresh token has expired; a new login is needed");
        }
        throw toAuthError(err, "refresh token");
      }
      const presentedHash = hashToken(token);
      const now = nowSeconds();
      let family = typeof claims.sid === "string" ? families.get(claims.sid) : undefined;
      if (family === undefined) {
        const probe = await store.rotate({ presentedHash, now, graceSeconds: grace });
        if (probe.kind !== "current") {
          return { tokenPair: await outcome(token, probe, now) };
        }
        family = probe.family;
        families.set(family);
      }
      if (family.absoluteExpiresAt !== undefined && now >= family.absoluteExpiresAt) {
        throw authError(AuthErrorReason.SESSION_EXPIRED, "the session reached its absolute lifetime; a new login is needed");
      }
      const { pair, record } = await mint(family, now);
      const box = sealForToken(token, toBinary(TokenPairSchema, pair));
      const result = await store.rotate({ presentedHash, now, graceSeconds: grace, successor: { record, box } });
      if (result.kind === "rotated") {
        return { tokenPair: pair };
      }
      return { tokenPair: await outcome(token, result, now) };
    },

    async revokeToken(req) {
      const token = req.token;
      if (token === "") {
        throw new ConnectError("token is required", Code.InvalidArgument);
      }
      let sid: string;
      try {
        // RFC 7009: any token of this issuer, expired or for another audience, names its family.
        const lenient = { ignoreExpiry: true, ignoreAudience: true };
        const typ = token.length <= MAX_TOKEN_BYTES ? decodeProtectedHeader(token).typ : undefined;
        if (typ === REFRESH_TOKEN_TYPE) {
          sid = String((await verifyRefresh(token, lenient)).sid ?? "");
        } else if (typ === ACCESS_TOKEN_TYPE) {
          sid = (await verifyAccess(token, lenient)).sid;
        } else {
          return {};
        }
      } catch {
        // RFC 7009 §2.2: an invalid or unknown token is not an error. Only
        // local verification runs in this block; store failures happen below.
        return {};
      }
      if (sid === "") {
        return {};
      }
      const now = nowSeconds();
      const sids = await store.revokeFamily(sid, now, "revoked");
      revoked(sids, now);
      if (sids.length > 0) {
        logger?.info?.("tokenkit: session revoked", { sids });
      }
      return {};
    },
  };
}

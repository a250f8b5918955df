import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { TokenPairSchema, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { hashToken } from "./grace-box.js";
import { ACCESS_TOKEN_TYPE, MAX_TOKEN_BYTES } from "./jwt/claims.js";
import { newRefreshHandle } from "./refresh-handle.js";
import type { FamilyRecord, RefreshRecord } from "./store/family-store.js";
import type { TokenSigner } from "./token-signer.js";

/** MintedPair is a freshly signed pair and the refresh record a store keeps for it. */
export interface MintedPair {
  /** pair is what the caller receives. */
  pair: TokenPair;
  /** record is the refresh token's row (hash only). */
  record: Omit<RefreshRecord, "generation">;
}

/** TokenMinter signs a new pair for a family at a time in milliseconds. */
export type TokenMinter = (family: FamilyRecord, nowMs: number) => MintedPair;

/** TokenMinterOptions configures {@link createTokenMinter}. */
export interface TokenMinterOptions {
  /** sign signs a payload with the current key. */
  sign: TokenSigner;
  /** issuer is the `iss` of access tokens. */
  issuer: string;
  /** newId returns a fresh random `jti`. */
  newId: () => string;
}

/**
 * expiresInSeconds is the whole seconds left from `nowMs` until `expSeconds`,
 * rounded down: a client that adds it to the time it received the pair never
 * lands past `exp` (claims are whole seconds, the clock is not).
 */
export function expiresInSeconds(expSeconds: number, nowMs: number): bigint {
  return BigInt(Math.max(0, Math.floor((expSeconds * 1000 - nowMs) / 1000)));
}

/**
 * createTokenMinter returns a {@link TokenMinter}: a signed access token and
 * an opaque refresh handle (see {@link newRefreshHandle}). The refresh token expires
 * at `now + refresh TTL`, cut to the family's absolute end; the access token
 * at `now + access TTL`, cut to the refresh token's expiry, so an access token
 * never outlives its session. Claims are whole seconds: `iat` is the current
 * second (never in the future) and expiries count from the next one, so a
 * token lives at least its TTL — a 2 s token is not cut to 1.2 s by rounding —
 * and `expires_in_seconds` (whole seconds left) reports exactly the TTL.
 */
export function createTokenMinter(options: TokenMinterOptions): TokenMinter {
  const { sign, issuer, newId } = options;
  return (family, nowMs) => {
    const now = Math.floor(nowMs / 1000);
    const from = Math.ceil(nowMs / 1000);
    const refreshExp = Math.min(from + family.refreshTtlSeconds, family.absoluteExpiresAt ?? Number.MAX_SAFE_INTEGER);
    const accessExp = Math.min(from + family.accessTtlSeconds, refreshExp);
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
    const accessToken = sign(access, ACCESS_TOKEN_TYPE);
    const refreshToken = newRefreshHandle(family.sid);
    if (accessToken.length > MAX_TOKEN_BYTES) {
      throw new ConnectError(`the requested claims make an access token larger than ${MAX_TOKEN_BYTES} bytes`, Code.InvalidArgument);
    }
    const pair = create(TokenPairSchema, {
      accessToken,
      refreshToken,
      tokenType: "Bearer",
      expiresInSeconds: expiresInSeconds(accessExp, nowMs),
      accessTokenExpireTime: timestampFromMs(accessExp * 1000),
      refreshTokenExpireTime: timestampFromMs(refreshExp * 1000),
      refreshTokenTtlSeconds: BigInt(family.refreshTtlSeconds),
      sessionId: family.sid,
      scopes: family.scopes,
    });
    return { pair, record: { hash: hashToken(refreshToken), sid: family.sid, issuedAt: now, expiresAt: refreshExp } };
  };
}

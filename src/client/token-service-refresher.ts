import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, createContextValues, type Client, type Transport } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authError } from "../auth-error.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { boundByClaims } from "./access-token-claims.js";
import { skipAuthKey } from "./skip-auth.js";
import type { RefreshFunction } from "./token-source.js";
import type { StoredToken } from "./token-store.js";

/**
 * tokenPairToStoredToken converts a `TokenPair` into the {@link StoredToken}
 * a client keeps, with times on the local clock: `expiresAt = receivedAt +
 * expires_in_seconds`, so a skewed server clock changes nothing. Only when
 * the server sent no `expires_in_seconds` does it fall back to the server's
 * `access_token_expire_time`. When the access token is a JWT whose `iat` and
 * `exp` can be read, the lifetime never goes past `exp` (see
 * `boundByClaims`); `respondedAt` (when the answer arrived, default
 * `receivedAt`) tells whether the two clocks agree.
 */
export function tokenPairToStoredToken(pair: TokenPair, receivedAt: number, respondedAt = receivedAt): StoredToken {
  const expiresIn = Number(pair.expiresInSeconds);
  const expiresAt =
    expiresIn > 0
      ? receivedAt + expiresIn * 1000
      : pair.accessTokenExpireTime !== undefined
        ? timestampMs(pair.accessTokenExpireTime)
        : receivedAt;
  const t: StoredToken = { accessToken: pair.accessToken, receivedAt, expiresAt: boundByClaims(pair.accessToken, expiresAt, receivedAt, respondedAt) };
  if (pair.refreshToken !== "") t.refreshToken = pair.refreshToken;
  const ttl = Number(pair.refreshTokenTtlSeconds);
  if (ttl > 0) t.refreshExpiresAt = receivedAt + ttl * 1000;
  if (pair.sessionId !== "") t.sessionId = pair.sessionId;
  if (pair.scopes.length > 0) t.scopes = [...pair.scopes];
  return t;
}

/** TokenServiceRefresherOptions configures {@link createTokenServiceRefresher}. */
export interface TokenServiceRefresherOptions {
  /** clock measures receipt times. @default systemClock */
  clock?: Clock;
}

/**
 * createTokenServiceRefresher returns a {@link RefreshFunction} that calls
 * `tokenkit.v1.TokenService/RefreshToken` over `transport` (or a client).
 * The call carries the {@link skipAuthKey} context value, so it skips the
 * auth interceptor even when it shares the transport with authenticated
 * calls. Times are measured from when the request was sent (conservative).
 */
export function createTokenServiceRefresher(
  transport: Transport | Client<typeof TokenService>,
  options: TokenServiceRefresherOptions = {},
): RefreshFunction {
  const client: Client<typeof TokenService> =
    typeof (transport as Client<typeof TokenService>).refreshToken === "function"
      ? (transport as Client<typeof TokenService>)
      : createClient(TokenService, transport as Transport);
  const clock = options.clock ?? systemClock;
  return async (current, { signal }) => {
    if (current?.refreshToken === undefined || current.refreshToken === "") {
      throw authError(AuthErrorReason.TOKEN_MISSING, "no refresh token is available; a login is needed");
    }
    const sentAt = clock.now();
    const res = await client.refreshToken(
      { refreshToken: current.refreshToken },
      { signal, contextValues: createContextValues().set(skipAuthKey, true) },
    );
    if (res.tokenPair === undefined) {
      throw authError(AuthErrorReason.TOKEN_INVALID, "the token server answered without a token pair");
    }
    return tokenPairToStoredToken(res.tokenPair, sentAt, clock.now());
  };
}

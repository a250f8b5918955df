import { timestampMs } from "@bufbuild/protobuf/wkt";
import { createClient, createContextValues, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenService, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authError } from "../auth-error.js";
import { systemClock, type Clock } from "../lib/clock.js";
import { boundByClaims } from "./access-token-claims.js";
import { skipAuthKey } from "./skip-auth.js";
import type { RefreshFunction } from "./refresh-function.js";
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

/** TokenServiceTarget says where the token service is: its own `baseUrl`, a transport, or a `TokenService` client. */
export type TokenServiceTarget = { baseUrl: string } | Transport | Client<typeof TokenService>;

function tokenServiceClient(target: TokenServiceTarget): Client<typeof TokenService> {
  if (typeof target !== "object" || target === null) {
    throw new TypeError("createTokenServiceRefresher: the first argument must be { baseUrl }, a Transport or a TokenService client");
  }
  if ("baseUrl" in target) {
    if (typeof target.baseUrl !== "string" || !/^https?:\/\//.test(target.baseUrl)) {
      throw new TypeError('createTokenServiceRefresher: option "baseUrl" must be an http:// or https:// URL');
    }
    // Fetch-based Connect over HTTP/1.1 or 2 as the runtime negotiates: runs in browsers, Node, Deno and workers.
    return createClient(TokenService, createConnectTransport({ baseUrl: target.baseUrl }));
  }
  if (typeof (target as Client<typeof TokenService>).refreshToken === "function") {
    return target as Client<typeof TokenService>;
  }
  return createClient(TokenService, target as Transport);
}

/**
 * createTokenServiceRefresher returns a {@link RefreshFunction} that calls
 * `tokenkit.v1.TokenService/RefreshToken`, and whose `revoke` (used by
 * `signOut()`) calls `RevokeToken` with the refresh token.
 *
 * Give it the token service's own `{ baseUrl }` — the usual way: refreshes
 * then never go through the authenticated transport, which may be created
 * later with the auth interceptor in its `interceptors` — or a transport or
 * client. Its calls carry the {@link skipAuthKey} context value, so they skip
 * the auth interceptor even on a shared transport. Times are measured from
 * when the request was sent (conservative), never past a readable `exp`.
 *
 * @example
 * const refresh = createTokenServiceRefresher({ baseUrl: "http://127.0.0.1:8080" });
 */
export function createTokenServiceRefresher(target: TokenServiceTarget, options: TokenServiceRefresherOptions = {}): RefreshFunction {
  const client = tokenServiceClient(target);
  const clock = options.clock ?? systemClock;
  const skipAuth = () => createContextValues().set(skipAuthKey, true);
  const refresh: RefreshFunction = async (current, { signal }) => {
    if (current?.refreshToken === undefined || current.refreshToken === "") {
      throw authError(AuthErrorReason.TOKEN_MISSING, "no refresh token is available; a login is needed");
    }
    const sentAt = clock.now();
    const res = await client.refreshToken({ refreshToken: current.refreshToken }, { signal, contextValues: skipAuth() });
    if (res.tokenPair === undefined) {
      throw authError(AuthErrorReason.TOKEN_INVALID, "the token server answered without a token pair");
    }
    return tokenPairToStoredToken(res.tokenPair, sentAt, clock.now());
  };
  refresh.revoke = async (token, { signal }) => {
    await client.revokeToken({ token: token.refreshToken || token.accessToken }, { signal, contextValues: skipAuth() });
  };
  return refresh;
}

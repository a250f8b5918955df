import { Code, ConnectError } from "@connectrpc/connect";
import * as oauth from "oauth4webapi";
import { AuthErrorReason } from "../../../gen/tokenkit/v1/auth_error_pb.js";
import { authError } from "../../auth-error.js";
import type { RefreshFunction } from "../token-source.js";
import type { StoredToken } from "../token-store.js";
import { normalizeOAuthOptions, type NormalizedOAuthOptions, type OAuthRefresherOptions } from "./oauth-options.js";
import { toRefreshFailure } from "./refresh-failure.js";
import { tokenResponseToStoredToken } from "./token-response.js";

/**
 * OAuthRefresher keeps a session with any OAuth 2.0 / OpenID Connect
 * provider: `refresh` plugs into `createTokenSource`, `revoke` signs out.
 */
export interface OAuthRefresher {
  /**
   * refresh is a {@link RefreshFunction} running the RFC 6749 §6 refresh grant. It keeps the
   * old refresh token when the provider does not rotate it. Failures follow the token-source
   * contract: `Unauthenticated` + `SESSION_EXPIRED` for `invalid_grant` (terminal);
   * `FailedPrecondition` for a client the provider refuses or a malformed response (terminal);
   * `Unavailable` for 5xx, 429 and network errors, with `retry-after` (seconds) in the error
   * metadata when the provider sent `Retry-After`.
   */
  refresh: RefreshFunction;
  /**
   * revoke signs out through RFC 7009: it revokes the refresh token (which ends the grant at
   * most providers), or the access token when there is no refresh token. It resolves `false`
   * without a request when the provider has no revocation endpoint, `true` once revoked.
   * Failures throw like `refresh` does.
   */
  revoke(token: StoredToken | undefined, options?: { signal?: AbortSignal }): Promise<boolean>;
  /** metadata resolves the provider's metadata (discovered once and cached; a failed discovery is retried on the next call). */
  metadata(options?: { signal?: AbortSignal }): Promise<oauth.AuthorizationServer>;
}

/**
 * ID_TOKEN_ALGORITHMS are the ID-token algorithms accepted in a refresh response when the
 * provider's metadata does not list them (explicit endpoints, RFC 8414 metadata): the refresher
 * never relies on an ID token, and oauth4webapi would otherwise accept only RS256.
 */
const ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

function discoverer(o: NormalizedOAuthOptions): (signal: AbortSignal | undefined) => Promise<oauth.AuthorizationServer> {
  if (o.tokenEndpoint !== undefined) {
    const as: oauth.AuthorizationServer = {
      issuer: o.issuer?.href ?? new URL(o.tokenEndpoint).origin,
      token_endpoint: o.tokenEndpoint,
      id_token_signing_alg_values_supported: ID_TOKEN_ALGORITHMS,
      ...(o.revocationEndpoint === undefined ? {} : { revocation_endpoint: o.revocationEndpoint }),
    };
    return () => Promise.resolve(as);
  }
  let cached: Promise<oauth.AuthorizationServer> | undefined;
  return (signal) => {
    cached ??= (async () => {
      try {
        const res = await oauth.discoveryRequest(o.issuer!, { ...o.http, algorithm: o.algorithm, signal });
        const as = await oauth.processDiscoveryResponse(o.issuer!, res);
        return {
          id_token_signing_alg_values_supported: ID_TOKEN_ALGORITHMS,
          ...as,
          ...(o.revocationEndpoint === undefined ? {} : { revocation_endpoint: o.revocationEndpoint }),
        };
      } catch (err) {
        cached = undefined;
        throw toRefreshFailure(err, o.clock.now(), "issuer discovery");
      }
    })();
    return cached;
  };
}

function aborted(signal: AbortSignal | undefined): ConnectError | undefined {
  return signal?.aborted ? ConnectError.from(signal.reason, Code.Canceled) : undefined;
}

/**
 * createOAuthRefresher returns an {@link OAuthRefresher} for any RFC 6749
 * provider, built on panva's `oauth4webapi` (Fetch and WebCrypto only, so it
 * runs in browsers, Node, Deno and workers): issuer discovery or explicit
 * endpoints; client authentication none, `client_secret_basic`,
 * `client_secret_post` or `private_key_jwt`; `scope` and `resource`
 * (RFC 8707) on every refresh; rotating and non-rotating refresh tokens;
 * lifetime from `expires_in`, never past the access token's own `exp − iat`.
 * Options are checked here, once; mistakes throw `TypeError` naming the option.
 *
 * @example
 * const oidc = createOAuthRefresher({ issuer: "https://login.example.com/", clientId: "cli" });
 * const tokens = createTokenSource({ refresh: oidc.refresh, initial: firstLogin });
 */
export function createOAuthRefresher(options: OAuthRefresherOptions): OAuthRefresher {
  const o = normalizeOAuthOptions(options);
  const discover = discoverer(o);
  return {
    metadata: (opts) => discover(opts?.signal),
    async refresh(current, { signal }) {
      if (current?.refreshToken === undefined || current.refreshToken === "") {
        throw authError(AuthErrorReason.TOKEN_MISSING, "no refresh token is available; a login is needed");
      }
      const as = await discover(signal);
      const sentAt = o.clock.now();
      try {
        const res = await oauth.refreshTokenGrantRequest(as, o.client, o.clientAuth, current.refreshToken, {
          ...o.http,
          signal,
          additionalParameters: o.parameters,
        });
        const body = await oauth.processRefreshTokenResponse(as, o.client, res);
        return tokenResponseToStoredToken(body, sentAt, current);
      } catch (err) {
        throw aborted(signal) ?? toRefreshFailure(err, o.clock.now());
      }
    },
    async revoke(token, opts) {
      const value = token?.refreshToken ?? token?.accessToken;
      if (value === undefined || value === "") {
        return false;
      }
      const as = await discover(opts?.signal);
      if (as.revocation_endpoint === undefined) {
        return false;
      }
      const hint = token?.refreshToken !== undefined ? "refresh_token" : "access_token";
      try {
        const res = await oauth.revocationRequest(as, o.client, o.clientAuth, value, {
          ...o.http,
          signal: opts?.signal,
          additionalParameters: { token_type_hint: hint },
        });
        await oauth.processRevocationResponse(res);
        return true;
      } catch (err) {
        throw aborted(opts?.signal) ?? toRefreshFailure(err, o.clock.now(), "revocation endpoint");
      }
    },
  };
}

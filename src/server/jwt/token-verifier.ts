import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters,
} from "jose";
import { AuthErrorReason } from "../../../gen/tokenkit/v1/auth_error_pb.js";
import { systemClock, type Clock } from "../../lib/clock.js";
import type { KeyRing } from "../keys/key-ring.js";
import { SIGNING_ALGORITHMS } from "../keys/key-store.js";
import { refreshHandleSid } from "../refresh-handle.js";
import { MAX_TOKEN_BYTES } from "./claims.js";

/**
 * TokenVerificationError is thrown by a {@link TokenVerifier}; `reason` says
 * what to put into the `AuthErrorDetail`. The message never holds token text.
 */
export class TokenVerificationError extends Error {
  override name = "TokenVerificationError";
  /** reason is the auth error reason for the failure. */
  readonly reason: AuthErrorReason;
  constructor(reason: AuthErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/** KeySource is where verification keys come from: the local key ring, or jose's key resolver (e.g. a remote JWKS). */
export type KeySource = KeyRing | JWTVerifyGetKey;

/** TokenVerifierOptions configures {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  /**
   * keys resolves verification keys: a {@link KeyRing} (inline, never fetched) or a jose resolver
   * such as `createRemoteJWKSet(url)`. Exactly one of `keys` and `jwksUrl` is required.
   */
  keys?: KeySource;
  /**
   * jwksUrl fetches verification keys from a token server's `/.well-known/jwks.json`, cached by
   * jose's `createRemoteJWKSet` (one shared fetch, refetched on an unknown `kid` at most every 30 s,
   * cache 10 min). Use it in a server that is not the token server.
   */
  jwksUrl?: string | URL;
  /**
   * jwksCooldownMs is the least time between two JWKS fetches caused by unknown `kid`s, so a
   * flood of forged kids cannot turn into a flood of fetches. Only with `jwksUrl`.
   * @default 30 000
   */
  jwksCooldownMs?: number;
  /**
   * typ is the exact JWS `typ` required (`at+jwt` or `rt+jwt`), or a list of accepted ones; the
   * empty string in a list accepts a header without `typ`. Required.
   */
  typ: string | readonly string[];
  /** issuer is the required `iss`. Required. */
  issuer: string;
  /** audience is the accepted `aud` (any of them). Required. */
  audience: string | string[];
  /**
   * clockToleranceSeconds is the allowed skew for `exp` and `iat`.
   * @default 60
   */
  clockToleranceSeconds?: number;
  /** clock supplies the time. @default systemClock */
  clock?: Clock;
}

/**
 * TokenVerifier verifies a compact JWS and returns its payload, or throws
 * {@link TokenVerificationError}. `ignoreExpiry` and `ignoreAudience` exist
 * for revocation only (RFC 7009 accepts any token of the issuer); never use
 * them to authenticate a call.
 */
export type TokenVerifier = (token: string, options?: { ignoreExpiry?: boolean; ignoreAudience?: boolean }) => Promise<JWTPayload>;

const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "crit"] as const;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * createTokenVerifier returns a {@link TokenVerifier} that applies every rule
 * of docs/DESIGN.md §3: size limit before parsing, algorithm allow-list bound to the
 * key's own algorithm, explicit `typ`, no `jku`/`x5u`/`jwk`/`x5c`/`crit`
 * headers, issuer and audience, required `exp/iat/jti/sub`, `iat` not in the
 * future, clock tolerance.
 *
 * Security: never relax `typ` — it is what keeps a refresh token from being
 * accepted as a bearer and an access token from being accepted as a refresh token.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const { typ, issuer, audience } = options;
  if ((options.keys === undefined) === (options.jwksUrl === undefined)) {
    throw new TypeError('createTokenVerifier: exactly one of the options "keys" and "jwksUrl" is required');
  }
  let keys: KeySource;
  if (options.jwksUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(options.jwksUrl);
    } catch {
      throw new TypeError('createTokenVerifier: option "jwksUrl" must be an absolute URL');
    }
    const cooldownDuration = options.jwksCooldownMs ?? 30_000;
    if (!Number.isFinite(cooldownDuration) || cooldownDuration < 0) {
      throw new TypeError('createTokenVerifier: option "jwksCooldownMs" must be a non-negative number');
    }
    keys = createRemoteJWKSet(url, { cooldownDuration });
  } else {
    keys = options.keys!;
  }
  const types = typeof typ === "string" ? [typ] : Array.isArray(typ) ? typ : [];
  if (types.length === 0 || types.some((t) => typeof t !== "string") || (typeof typ === "string" && typ === "")) {
    throw new TypeError('createTokenVerifier: option "typ" must be a non-empty string or a non-empty list of strings');
  }
  const acceptedTypes = new Set(types);
  if (typeof issuer !== "string" || issuer === "") {
    throw new TypeError('createTokenVerifier: option "issuer" must be a non-empty string');
  }
  if (audience === undefined || (Array.isArray(audience) && audience.length === 0)) {
    throw new TypeError('createTokenVerifier: option "audience" is required');
  }
  const tolerance = options.clockToleranceSeconds ?? 60;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError('createTokenVerifier: option "clockToleranceSeconds" must be a non-negative number');
  }
  const clock = options.clock ?? systemClock;
  const getKey: JWTVerifyGetKey =
    typeof keys === "function"
      ? keys
      : (header: ProtectedHeaderParameters) => {
          const k = header.kid === undefined ? undefined : keys.verificationKey(header.kid);
          if (k === undefined) {
            throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token is signed with an unknown key");
          }
          if (k.alg !== header.alg) {
            throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token algorithm does not match its key");
          }
          return k.key;
        };
  const algorithms = [...SIGNING_ALGORITHMS];

  return async function verify(token, opts) {
    if (typeof token !== "string" || token.length === 0) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_MISSING, "token is empty");
    }
    if (token.length > MAX_TOKEN_BYTES) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_MALFORMED, `token is larger than ${MAX_TOKEN_BYTES} bytes`);
    }
    if (refreshHandleSid(token) !== undefined) {
      // docs/DESIGN.md §3: a refresh token presented as a bearer is TOKEN_INVALID, not merely malformed.
      throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "a refresh token is not an access token");
    }
    if (!COMPACT_JWS.test(token)) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_MALFORMED, "token is not a compact JWS");
    }
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (err) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_MALFORMED, "token header is not valid JSON", { cause: err });
    }
    if (typeof header.alg !== "string" || !algorithms.includes(header.alg as never)) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token algorithm is not allowed");
    }
    for (const h of FORBIDDEN_HEADERS) {
      if (h in header) {
        throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, `token header "${h}" is not allowed`);
      }
    }
    if (!acceptedTypes.has(header.typ ?? "")) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, `token type is not ${types.filter((t) => t !== "").join(" or ")}`);
    }
    const nowMs = clock.now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        algorithms,
        issuer,
        ...(opts?.ignoreAudience ? {} : { audience }),
        clockTolerance: opts?.ignoreExpiry ? Number.MAX_SAFE_INTEGER / 1000 : tolerance,
        currentDate: new Date(nowMs),
        requiredClaims: ["exp", "iat", "jti", "sub"],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    if (typeof payload.iat !== "number" || payload.iat > nowMs / 1000 + tolerance) {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token is issued in the future");
    }
    if (typeof payload.jti !== "string" || payload.jti === "" || typeof payload.sub !== "string" || payload.sub === "") {
      throw new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token lacks a required claim");
    }
    return payload;
  };
}

function mapJoseError(err: unknown): TokenVerificationError {
  if (err instanceof TokenVerificationError) {
    return err;
  }
  if (err instanceof joseErrors.JWTExpired) {
    return new TokenVerificationError(AuthErrorReason.TOKEN_EXPIRED, "token has expired", { cause: err });
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token signature does not verify", { cause: err });
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, `token claim "${err.claim}" is not valid`, { cause: err });
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token is signed with an unknown key", { cause: err });
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token algorithm is not allowed", { cause: err });
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) {
    return new TokenVerificationError(AuthErrorReason.TOKEN_MALFORMED, "token is malformed", { cause: err });
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError)) {
    // The key source failed (a JWKS fetch, not the caller): the bearer interceptor maps this to Unavailable.
    return new TokenVerificationError(AuthErrorReason.UNSPECIFIED, "verification keys are unavailable", { cause: err });
  }
  return new TokenVerificationError(AuthErrorReason.TOKEN_INVALID, "token does not verify", { cause: err });
}

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JWTPayload } from "jose";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenPairSchema, type RefreshTokenRequest, type TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authError } from "../auth-error.js";
import { toAuthError } from "./bearer.js";
import { hashToken, openForToken, sealForToken } from "./grace-box.js";
import { refreshHandleSid } from "./refresh-handle.js";
import { TokenVerificationError } from "./jwt/token-verifier.js";
import type { FamilyRecord, RotateResult } from "./store/family-store.js";
import { expiresInSeconds } from "./token-minter.js";
import { noteRevoked, type TokenServiceContext } from "./token-service-context.js";

/**
 * legacyClaims verifies a refresh token issued as a signed `rt+jwt` by an
 * earlier release, so sessions started before an upgrade keep rotating.
 */
async function legacyClaims(ctx: TokenServiceContext, token: string): Promise<JWTPayload> {
  try {
    return await ctx.verifyRefresh(token);
  } catch (err) {
    if (err instanceof TokenVerificationError && err.reason === AuthErrorReason.TOKEN_EXPIRED) {
      throw expired();
    }
    throw toAuthError(err, "refresh token");
  }
}

/**
 * presentedSession returns the family a refresh token names: an opaque
 * handle names it in clear (used only to find the family's immutable fields;
 * the store's compare-and-swap on the token's hash decides everything), a
 * refresh JWT of an earlier release once its signature and claims verify.
 */
async function presentedSession(ctx: TokenServiceContext, token: string): Promise<string | undefined> {
  const sid = refreshHandleSid(token);
  if (sid !== undefined) {
    return sid;
  }
  const claims = await legacyClaims(ctx, token);
  return typeof claims.sid === "string" ? claims.sid : undefined;
}

function expired(): ConnectError {
  return authError(AuthErrorReason.SESSION_EXPIRED, "refresh token has expired; a new login is needed");
}

/**
 * gracePair opens the sealed successor pair: the same tokens as the first
 * answer, with `expires_in_seconds` counted from now so a late retry is never
 * told more time than its access token has left.
 */
function gracePair(token: string, box: Uint8Array, nowMs: number): TokenPair {
  let pair: TokenPair;
  try {
    pair = fromBinary(TokenPairSchema, openForToken(token, box));
  } catch (err) {
    throw new ConnectError("stored successor pair cannot be opened", Code.DataLoss, undefined, undefined, err);
  }
  if (pair.accessTokenExpireTime !== undefined) {
    pair.expiresInSeconds = expiresInSeconds(timestampMs(pair.accessTokenExpireTime) / 1000, nowMs);
  }
  return pair;
}

/** outcome turns a rotation that did not rotate into its answer or error. */
function outcome(ctx: TokenServiceContext, token: string, result: RotateResult, nowMs: number): TokenPair {
  switch (result.kind) {
    case "grace":
      return gracePair(token, result.box, nowMs);
    case "reused":
      noteRevoked(ctx, result.revokedSids, Math.floor(nowMs / 1000));
      ctx.logger?.warn?.("tokenkit: refresh token reuse detected; session revoked", { sids: result.revokedSids });
      throw authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "refresh token was already used; the session is revoked and a new login is needed");
    case "revoked":
      if (result.reason === "reused") {
        throw authError(AuthErrorReason.REFRESH_TOKEN_REUSED, "the session was revoked after refresh token reuse; a new login is needed");
      }
      throw authError(AuthErrorReason.TOKEN_REVOKED, "the session was revoked; a new login is needed");
    case "expired":
      throw expired();
    case "unknown":
      throw authError(AuthErrorReason.TOKEN_INVALID, "refresh token is not known to this server");
    case "current":
    case "rotated":
      throw new ConnectError("refresh token rotation conflicted with another rotation; retry", Code.Aborted);
  }
}

/**
 * refreshToken rotates a refresh token: one compare-and-swap in the store,
 * the grace window returning the identical successor, any other reuse
 * revoking the family. The family's immutable fields come from the cache
 * when they can, so the common rotation is one store round trip.
 */
export async function refreshToken(ctx: TokenServiceContext, req: RefreshTokenRequest): Promise<TokenPair> {
  const token = req.refreshToken;
  if (token === "") {
    throw new ConnectError("refresh_token is required", Code.InvalidArgument);
  }
  const sid = await presentedSession(ctx, token);
  const presentedHash = hashToken(token);
  const nowMs = ctx.clock.now();
  const now = Math.floor(nowMs / 1000);
  const graceSeconds = ctx.settings.graceSeconds;
  let family: FamilyRecord | undefined = sid === undefined ? undefined : ctx.families.get(sid);
  if (family === undefined) {
    const probe = await ctx.store.rotate({ presentedHash, now, graceSeconds });
    if (probe.kind !== "current") {
      return outcome(ctx, token, probe, nowMs);
    }
    family = probe.family;
    ctx.families.set(family);
  }
  if (family.absoluteExpiresAt !== undefined && now >= family.absoluteExpiresAt) {
    throw authError(AuthErrorReason.SESSION_EXPIRED, "the session reached its absolute lifetime; a new login is needed");
  }
  const { pair, record } = ctx.mint(family, nowMs);
  const box = sealForToken(token, toBinary(TokenPairSchema, pair));
  const result = await ctx.store.rotate({ presentedHash, now, graceSeconds, successor: { record, box } });
  return result.kind === "rotated" ? pair : outcome(ctx, token, result, nowMs);
}

import { Code, ConnectError } from "@connectrpc/connect";
import { decodeProtectedHeader } from "jose";
import type { RevokeTokenRequest } from "../../gen/tokenkit/v1/token_service_pb.js";
import { ACCESS_TOKEN_TYPE, MAX_TOKEN_BYTES, REFRESH_TOKEN_TYPE } from "./jwt/claims.js";
import { hashToken } from "./grace-box.js";
import { refreshHandleSid } from "./refresh-handle.js";
import { noteRevoked, type TokenServiceContext } from "./token-service-context.js";

/**
 * sessionOf returns the family a token of this issuer names, expired or for
 * another audience (RFC 7009), or `""` for anything else. An opaque refresh
 * handle names its family only through the store (the id it carries is not
 * trusted, or anyone could revoke any session); a store failure propagates
 * as `Unavailable` rather than being mistaken for garbage. JWTs are verified
 * locally.
 */
async function sessionOf(ctx: TokenServiceContext, token: string): Promise<string> {
  if (refreshHandleSid(token) !== undefined) {
    return (await ctx.store.sessionOf(hashToken(token))) ?? "";
  }
  try {
    const lenient = { ignoreExpiry: true, ignoreAudience: true };
    const typ = token.length <= MAX_TOKEN_BYTES ? decodeProtectedHeader(token).typ : undefined;
    if (typ === REFRESH_TOKEN_TYPE) {
      return String((await ctx.verifyRefresh(token, lenient)).sid ?? "");
    }
    if (typ === ACCESS_TOKEN_TYPE) {
      return (await ctx.verifyAccess(token, lenient)).sid;
    }
    return "";
  } catch {
    // RFC 7009 §2.2: an invalid or unknown token is not an error.
    return "";
  }
}

/**
 * revokeToken revokes the family of a refresh or access token, and its
 * delegated children. Unknown or garbage tokens are answered OK (RFC 7009);
 * an empty token is `InvalidArgument`.
 */
export async function revokeToken(ctx: TokenServiceContext, req: RevokeTokenRequest): Promise<void> {
  if (req.token === "") {
    throw new ConnectError("token is required", Code.InvalidArgument);
  }
  const sid = await sessionOf(ctx, req.token);
  if (sid === "") {
    return;
  }
  const now = Math.floor(ctx.clock.now() / 1000);
  const sids = await ctx.store.revokeFamily(sid, now, "revoked");
  noteRevoked(ctx, sids, now);
  if (sids.length > 0) {
    ctx.logger?.info?.("tokenkit: session revoked", { sids });
  }
}

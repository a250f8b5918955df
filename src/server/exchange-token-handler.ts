import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { ExchangeTokenRequest, TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authError } from "../auth-error.js";
import { authenticateBearer, requireScopes } from "./bearer.js";
import { actorDepth, MAX_ACTOR_DEPTH, type AccessTokenClaims } from "./jwt/claims.js";
import { checkIdentifier, checkMetadata, checkNames } from "./request-limits.js";
import type { FamilyRecord } from "./store/family-store.js";
import { newFamily, startFamily, type TokenServiceContext } from "./token-service-context.js";
import { resolveTtls } from "./ttl-policy.js";

/** SCOPE_EXCHANGE lets a bearer call ExchangeToken. */
export const SCOPE_EXCHANGE = "tokens:exchange";

function checkSubset(field: string, requested: string[], held: readonly string[]): void {
  const extra = requested.filter((s) => !held.includes(s));
  if (extra.length > 0) {
    throw authError(AuthErrorReason.INSUFFICIENT_SCOPE, `cannot delegate ${field} the caller does not hold: ${extra.join(", ")}`);
  }
}

/**
 * delegatedMetadata is the parent's metadata plus the keys the delegate adds.
 * A delegate may not change a value the principal's session carries: those
 * values are claims about the principal, not the delegate's to set.
 */
function delegatedMetadata(parent: FamilyRecord, requested: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(requested)) {
    if (Object.hasOwn(parent.metadata, key) && parent.metadata[key] !== value) {
      throw authError(AuthErrorReason.INSUFFICIENT_SCOPE, `metadata[${JSON.stringify(key)}] is set by the caller's session and cannot be changed by a delegate`);
    }
  }
  return checkMetadata({ ...requested, ...parent.metadata });
}

/**
 * parentSessionEnd is the latest time the caller's session is known to live
 * without further refreshes: the refresh token minted with the caller's
 * access token expires at `iat + refresh TTL`, cut to the family's absolute
 * end. A child bound by it can never outlive its parent.
 */
function parentSessionEnd(parent: FamilyRecord, caller: AccessTokenClaims): number {
  return Math.min(caller.iat + parent.refreshTtlSeconds, parent.absoluteExpiresAt ?? Number.MAX_SAFE_INTEGER);
}

async function liveParent(ctx: TokenServiceContext, caller: AccessTokenClaims, now: number): Promise<{ parent: FamilyRecord; end: number }> {
  const parent = await ctx.store.getFamily(caller.sid);
  if (parent === undefined || parent.revokedAt !== undefined) {
    throw authError(AuthErrorReason.TOKEN_REVOKED, "the caller's session is revoked or unknown");
  }
  const end = parentSessionEnd(parent, caller);
  if (end <= now) {
    throw authError(AuthErrorReason.SESSION_EXPIRED, "the caller's session has ended; nothing is left to delegate");
  }
  return { parent, end };
}

/**
 * exchangeToken is RFC 8693 delegation: the caller (scope `tokens:exchange`)
 * gets a child session for `actor` that never widens its own. Scopes and
 * audiences are subsets of the caller's; metadata keeps every value of the
 * caller's session; the child's refresh TTL and absolute end are cut to the
 * caller's session end, so a child never outlives or out-claims its parent.
 */
export async function exchangeToken(ctx: TokenServiceContext, req: ExchangeTokenRequest, call: HandlerContext): Promise<TokenPair> {
  const caller = await authenticateBearer(call.requestHeader, ctx.verifyAccess, ctx.revocations);
  requireScopes(caller, [SCOPE_EXCHANGE]);
  const actor = checkIdentifier("actor", req.actor);
  const scopes = checkNames("scopes", req.scopes);
  const audiences = checkNames("audiences", req.audiences);
  checkSubset("scopes", scopes, caller.scopes);
  checkSubset("audiences", audiences, caller.aud);
  const act = caller.act === undefined ? { sub: actor } : { sub: actor, act: caller.act };
  if (actorDepth(act) > MAX_ACTOR_DEPTH) {
    throw new ConnectError(`delegation chain would be deeper than ${MAX_ACTOR_DEPTH} actors`, Code.InvalidArgument);
  }
  const ttls = resolveTtls(req, ctx.settings.limits);
  const nowMs = ctx.clock.now();
  const now = Math.floor(nowMs / 1000);
  const { parent, end } = await liveParent(ctx, caller, now);
  const family = newFamily(
    ctx,
    {
      subject: caller.sub,
      scopes: scopes.length > 0 ? scopes : caller.scopes,
      audiences: audiences.length > 0 ? audiences : caller.aud,
      metadata: delegatedMetadata(parent, req.metadata),
      actor: act,
      accessTtlSeconds: ttls.accessTtlSeconds,
      refreshTtlSeconds: Math.min(ttls.refreshTtlSeconds, end - now),
      parentSid: caller.sid,
    },
    now,
    end,
  );
  return startFamily(ctx, family, nowMs);
}

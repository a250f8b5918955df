import type { HandlerContext } from "@connectrpc/connect";
import { createHash, timingSafeEqual } from "node:crypto";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { IssueTokenRequest, TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import { authError } from "../auth-error.js";
import { authenticateBearer, requireScopes } from "./bearer.js";
import { checkIdentifier, checkMetadata, checkNames } from "./request-limits.js";
import { newFamily, startFamily, type TokenServiceContext } from "./token-service-context.js";
import { resolveTtls } from "./ttl-policy.js";

/** SCOPE_ISSUE lets a bearer call IssueToken (besides the admin key). */
export const SCOPE_ISSUE = "tokens:issue";

async function authorizeIssue(ctx: TokenServiceContext, call: HandlerContext): Promise<void> {
  const apiKey = call.requestHeader.get("x-api-key");
  if (apiKey !== null) {
    const digest = ctx.settings.adminKeyDigest;
    if (digest !== undefined && timingSafeEqual(createHash("sha256").update(apiKey).digest(), digest)) {
      return;
    }
    throw authError(AuthErrorReason.TOKEN_INVALID, "x-api-key does not match the admin key");
  }
  if (call.requestHeader.get("authorization") === null) {
    throw authError(AuthErrorReason.TOKEN_MISSING, `IssueToken needs the admin key in x-api-key or a bearer token with scope "${SCOPE_ISSUE}"`);
  }
  requireScopes(await authenticateBearer(call.requestHeader, ctx.verifyAccess, ctx.revocations), [SCOPE_ISSUE]);
}

/**
 * issueToken starts a new session: the admin key (`x-api-key`) or a bearer
 * with scope `tokens:issue` authorizes it; TTLs follow docs/DESIGN.md §4.
 */
export async function issueToken(ctx: TokenServiceContext, req: IssueTokenRequest, call: HandlerContext): Promise<TokenPair> {
  await authorizeIssue(ctx, call);
  const nowMs = ctx.clock.now();
  const ttls = resolveTtls(req, ctx.settings.limits);
  const audiences = checkNames("audiences", req.audiences);
  const family = newFamily(
    ctx,
    {
      subject: checkIdentifier("subject", req.subject),
      scopes: checkNames("scopes", req.scopes),
      audiences: audiences.length > 0 ? audiences : [ctx.settings.audience],
      metadata: checkMetadata(req.metadata),
      accessTtlSeconds: ttls.accessTtlSeconds,
      refreshTtlSeconds: ttls.refreshTtlSeconds,
    },
    Math.floor(nowMs / 1000),
  );
  return startFamily(ctx, family, nowMs);
}

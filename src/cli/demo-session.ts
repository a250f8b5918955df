import { Code, ConnectError, createContextValues, type Client } from "@connectrpc/connect";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import type { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { skipAuthKey } from "../client/skip-auth.js";
import type { TokenSourceEvent } from "../client/token-events.js";
import { createTokenServiceRefresher, tokenPairToStoredToken } from "../client/token-service-refresher.js";
import { createTokenSource } from "../client/token-source.js";
import type { TokenSource } from "../client/token-source-types.js";
import type { StoredToken } from "../client/token-store.js";
import { countsText, type DemoContext } from "./demo-context.js";
import { durationText, errorText } from "./demo-text.js";

/** DemoSessionOptions are the lifetimes of the pair a demo issues, and how long the demo runs (for the opening line). */
export interface DemoSessionOptions {
  adminKey: string;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  durationMs: number;
}

/**
 * issueDemoPair starts the demo's session: one `IssueToken` call authorized
 * by the admin key (never through the auth interceptor), and the opening
 * line naming the session and its lifetimes.
 */
export async function issueDemoPair(ctx: DemoContext, tokens: Client<typeof TokenService>, o: DemoSessionOptions): Promise<StoredToken> {
  const pair = (
    await tokens.issueToken(
      {
        subject: ctx.subject,
        scopes: ["heartbeat:write", "events:write", "events:read"],
        accessTokenTtlSeconds: BigInt(o.accessTtlSeconds),
        refreshTokenTtlSeconds: BigInt(o.refreshTtlSeconds),
      },
      { headers: { "x-api-key": o.adminKey }, contextValues: createContextValues().set(skipAuthKey, true) },
    )
  ).tokenPair;
  if (pair === undefined) {
    throw new ConnectError("the server answered IssueToken without a token pair", Code.Internal);
  }
  const initial = tokenPairToStoredToken(pair, ctx.clock.now());
  const lifetimeMs = initial.expiresAt - initial.receivedAt;
  ctx.say(
    `session "${ctx.subject}": access tokens live ${durationText(lifetimeMs)}, the refresh token ${durationText(Number(pair.refreshTokenTtlSeconds) * 1000)} (renewed by every refresh); running for ${durationText(o.durationMs)}`,
  );
  return initial;
}

/**
 * startDemoTokenSource returns the token source that keeps the demo's
 * session fresh from `initial`, printing a line per refresh, failed refresh
 * and session expiry, and counting refreshes by cause into the tally.
 */
export function startDemoTokenSource(ctx: DemoContext, initial: StoredToken): TokenSource {
  const { clock, tally, say } = ctx;
  let tokenExpiresAt = initial.expiresAt;
  const source = createTokenSource({
    refresh: createTokenServiceRefresher(ctx.transport, { clock }),
    initial,
    clock,
    random: ctx.random,
    onEvent: (e: TokenSourceEvent) => {
      if (e.type === "refresh" && (e.outcome === "success" || e.outcome === "adopted")) {
        tally.refreshes[e.cause === "proactive" || e.cause === "reactive" ? e.cause : e.cause === "initial" ? "blocking" : "other"]++;
        const leftMs = tokenExpiresAt - (clock.now() - e.latencyMs);
        tokenExpiresAt = source.current()?.expiresAt ?? tokenExpiresAt;
        const why = leftMs > 0 ? `${e.cause}, ${Math.round(leftMs / 1000)} s left` : `${e.cause}, the old token had expired`;
        say(`✓ token refreshed (${why})   ${countsText(tally)}`);
      } else if (e.type === "refresh_retry") {
        say(`✗ token refresh failed (${errorText(e.error)}); the current token still works, retry in ${durationText(e.delayMs)}`);
      } else if (e.type === "session_expired") {
        tally.sessionExpired = true;
        say(`✗ session expired (${AuthErrorReason[e.reason]}): a new login is needed`);
      }
    },
  });
  return source;
}

import type { Clock } from "../lib/clock.js";
import { randomId } from "./random-pool.js";
import type { Logger } from "../lib/logger.js";
import type { AccessTokenVerifier } from "./jwt/access-token-verifier.js";
import type { TokenVerifier } from "./jwt/token-verifier.js";
import type { FamilyCache } from "./family-cache.js";
import type { RevocationCache } from "./revocation-cache.js";
import type { FamilyRecord, FamilyStore } from "./store/family-store.js";
import type { TokenMinter } from "./token-minter.js";
import type { TokenPair } from "../../gen/tokenkit/v1/token_service_pb.js";
import type { TokenServiceSettings } from "./token-service-options.js";

/** TokenServiceContext is what every TokenService handler shares: settings and collaborators, built once. */
export interface TokenServiceContext {
  /** settings are the validated options. */
  readonly settings: TokenServiceSettings;
  /** store keeps the families. */
  readonly store: FamilyStore;
  /** families caches the immutable fields of recently used families. */
  readonly families: FamilyCache;
  /** mint signs new pairs. */
  readonly mint: TokenMinter;
  /** verifyAccess verifies bearer access tokens. */
  readonly verifyAccess: AccessTokenVerifier;
  /** verifyRefresh verifies the signed `rt+jwt` refresh tokens of earlier releases (today's are opaque handles). */
  readonly verifyRefresh: TokenVerifier;
  /** revocations hears about revocations made here, if given. */
  readonly revocations?: RevocationCache;
  /** clock supplies the time. */
  readonly clock: Clock;
  /** logger receives security events. */
  readonly logger?: Logger;
}

/** newSessionId returns a fresh random family id. */
export function newSessionId(): string {
  return randomId(16);
}

/**
 * newFamily completes `fields` into a family created at `now`, with the
 * configured absolute lifetime (cut to `endBy`, the end of a parent session,
 * when given).
 */
export function newFamily(
  ctx: TokenServiceContext,
  fields: Omit<FamilyRecord, "sid" | "createdAt" | "absoluteExpiresAt">,
  now: number,
  endBy?: number,
): FamilyRecord {
  const family: FamilyRecord = { ...fields, sid: newSessionId(), createdAt: now };
  const absolute = ctx.settings.absoluteLifetimeSeconds;
  const ends = [absolute === undefined ? undefined : now + absolute, endBy].filter((e): e is number => e !== undefined);
  if (ends.length > 0) {
    family.absoluteExpiresAt = Math.min(...ends);
  }
  return family;
}

/** startFamily mints the first pair of `family` at `nowMs` and stores both. */
export async function startFamily(ctx: TokenServiceContext, family: FamilyRecord, nowMs: number): Promise<TokenPair> {
  const { pair, record } = ctx.mint(family, nowMs);
  await ctx.store.createFamily(family, record);
  ctx.families.set(family);
  return pair;
}

/** noteRevoked tells this process's revocation cache about `sids` at once. */
export function noteRevoked(ctx: TokenServiceContext, sids: readonly string[], now: number): void {
  if (sids.length > 0) {
    ctx.revocations?.add(sids, now);
  }
}

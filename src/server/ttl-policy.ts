import { Code, ConnectError } from "@connectrpc/connect";

/** HARD_MAX_REFRESH_TTL_SECONDS is the ceiling no configuration can raise: 90 days. */
export const HARD_MAX_REFRESH_TTL_SECONDS = 7_776_000;

/**
 * HARD_MAX_ACCESS_TTL_SECONDS is the longest access-token lifetime any
 * configuration allows: 90 days. Revocation caches reach this far back when
 * they first load.
 */
export const HARD_MAX_ACCESS_TTL_SECONDS = 7_776_000;

/** MIN_REFRESH_TTL_SECONDS is the smallest refresh-token TTL a caller may ask for. */
export const MIN_REFRESH_TTL_SECONDS = 60;

/** TtlLimits are the server's TTL defaults and caps, in seconds. */
export interface TtlLimits {
  /** accessTtlSeconds applies when a request asks for none (or 0). */
  accessTtlSeconds: number;
  /** maxAccessTtlSeconds caps requested access TTLs. */
  maxAccessTtlSeconds: number;
  /** defaultRefreshTtlSeconds applies when a request asks for none (or 0). */
  defaultRefreshTtlSeconds: number;
  /** maxRefreshTtlSeconds caps requested refresh TTLs (≤ {@link HARD_MAX_REFRESH_TTL_SECONDS}). */
  maxRefreshTtlSeconds: number;
}

/** ResolvedTtls are the effective TTLs of a new family. */
export interface ResolvedTtls {
  /** accessTtlSeconds is the effective access-token lifetime. */
  accessTtlSeconds: number;
  /** refreshTtlSeconds is the effective refresh-token TTL. */
  refreshTtlSeconds: number;
}

/**
 * resolveTtls applies docs/DESIGN.md §4 to the TTLs of an issue or exchange request:
 * absent or 0 → default; above the maximum → capped; negative, or a refresh
 * TTL below 60 s → `InvalidArgument` naming the field.
 */
export function resolveTtls(
  requested: { accessTokenTtlSeconds?: bigint; refreshTokenTtlSeconds?: bigint },
  limits: TtlLimits,
): ResolvedTtls {
  const access = requested.accessTokenTtlSeconds ?? 0n;
  const refresh = requested.refreshTokenTtlSeconds ?? 0n;
  if (access < 0n) {
    throw new ConnectError(`access_token_ttl_seconds must not be negative (got ${access})`, Code.InvalidArgument);
  }
  if (refresh < 0n) {
    throw new ConnectError(`refresh_token_ttl_seconds must not be negative (got ${refresh})`, Code.InvalidArgument);
  }
  if (refresh > 0n && refresh < BigInt(MIN_REFRESH_TTL_SECONDS)) {
    throw new ConnectError(
      `refresh_token_ttl_seconds must be at least ${MIN_REFRESH_TTL_SECONDS} (got ${refresh})`,
      Code.InvalidArgument,
    );
  }
  const cap = (v: bigint, dflt: number, max: number) => (v === 0n ? dflt : v > BigInt(max) ? max : Number(v));
  return {
    accessTtlSeconds: cap(access, limits.accessTtlSeconds, limits.maxAccessTtlSeconds),
    refreshTtlSeconds: cap(refresh, limits.defaultRefreshTtlSeconds, limits.maxRefreshTtlSeconds),
  };
}

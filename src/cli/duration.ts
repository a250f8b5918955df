import { UsageError } from "./usage-error.js";

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/**
 * parseDuration parses a command-line duration (docs/DESIGN.md §6 `DUR`) into whole
 * seconds: a bare number of seconds (`3600`) or a number with one unit suffix
 * `s`, `m`, `h` or `d` (`90s`, `15m`, `24h`, `90d`).
 *
 * Anything else — decimals, signs, spaces, unknown or repeated units,
 * results beyond `Number.MAX_SAFE_INTEGER` seconds — throws a
 * {@link UsageError} whose message names `flag` (e.g. `--access-ttl`), so the
 * user sees which value was wrong.
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^([0-9]+)([smhd]?)$/.exec(text);
  if (match === null) {
    if (/^\s*-/.test(text)) {
      throw new UsageError(`${flag} must not be negative (got "${text}")`);
    }
    throw new UsageError(
      `${flag} must be a duration: whole seconds or a number with s, m, h or d, such as 90s, 15m, 24h, 90d (got "${text}")`,
    );
  }
  const [, digits = "", unit = ""] = match;
  const multiplier = unit === "" ? 1 : UNIT_SECONDS[unit as keyof typeof UNIT_SECONDS];
  const seconds = BigInt(digits) * BigInt(multiplier);
  if (seconds > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(`${flag} is too large (got "${text}")`);
  }
  return Number(seconds);
}

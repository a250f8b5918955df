/**
 * ServerOptionError is a mistake in the options of `createTokenkitServer`: it
 * names the `option` and states the `problem` in words that fit any name for
 * it, so that `tokenkit serve` can repeat the problem under the flag the
 * operator typed (`--grace-period must be between 0s and 300s`) while a
 * library caller reads the option (`option "gracePeriodSeconds" must be …`).
 * It is a `TypeError`, as every caller mistake in options is.
 */
export class ServerOptionError extends TypeError {
  override name = "ServerOptionError";

  /**
   * @param option - the option of `TokenkitServerOptions` at fault, e.g. `gracePeriodSeconds`.
   * @param problem - what is wrong, starting with a verb: `must be between 0s and 300s`.
   */
  constructor(
    readonly option: string,
    readonly problem: string,
  ) {
    super(`createTokenkitServer: option "${option}" ${problem}`);
  }
}

/** isServerOptionError reports whether `err` is a {@link ServerOptionError}. */
export function isServerOptionError(err: unknown): err is ServerOptionError {
  return err instanceof ServerOptionError;
}

const UNITS: readonly [string, number][] = [
  ["d", 86_400],
  ["h", 3600],
  ["m", 60],
];

/**
 * formatSeconds writes a duration the way the `DUR` flags read it: under an
 * hour in seconds (`60s`, `300s`), else in the largest unit that divides it
 * exactly (`1h`, `86400` → `1d`, `90d`, `90000` → `25h`).
 */
export function formatSeconds(seconds: number): string {
  for (const [unit, size] of UNITS) {
    if (seconds >= 3600 && seconds % size === 0) {
      return `${seconds / size}${unit}`;
    }
  }
  return `${seconds}s`;
}

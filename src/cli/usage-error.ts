/**
 * UsageError is a mistake on the command line: an unknown flag, a missing
 * required flag or a value that does not parse. The CLI prints its message
 * (which names the flag or environment variable) and exits with code 2.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/** isUsageError reports whether `err` is a {@link UsageError}. */
export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}

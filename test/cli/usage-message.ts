import { expect } from "vitest";
import { UsageError } from "../../src/cli/usage-error.js";

/** usageMessage runs `fn`, asserts it throws a `UsageError`, and returns the error's message. */
export function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("expected a UsageError");
}

/** CleanupStack collects the undo steps of a start-up, run in reverse order. */
export interface CleanupStack {
  /** push adds an undo step: it runs before every step pushed earlier. */
  push(fn: () => Promise<void> | void): void;
  /** run runs every step once, last pushed first, and resolves to the errors they threw (none lost, none stopping the rest). */
  run(): Promise<unknown[]>;
}

/**
 * createCleanupStack returns an empty {@link CleanupStack}: the server pushes
 * "stop listening", "stop polling", "close the store" as it opens each, so
 * that a failed start and `close()` both undo exactly what was done.
 */
export function createCleanupStack(): CleanupStack {
  const steps: (() => Promise<void> | void)[] = [];
  return {
    push(fn) {
      steps.push(fn);
    },
    async run() {
      const errors: unknown[] = [];
      for (const fn of steps.splice(0).reverse()) {
        try {
          await fn();
        } catch (err) {
          errors.push(err);
        }
      }
      return errors;
    },
  };
}

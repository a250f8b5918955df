import { Code, ConnectError } from "@connectrpc/connect";
import { storeUnavailable } from "./store-errors.js";

/**
 * toPostgresStoreError maps a `pg` driver error from `operation` of the store
 * named `what` ("Postgres token store") to the `ConnectError` callers see:
 *
 * - SQLSTATE 23505 (unique violation) → `Aborted`: a duplicate key, e.g. a
 *   concurrent insert of the same id; the caller may retry with new ids.
 * - class 40 (serialization failure, deadlock) → `Aborted`: a conflict with a
 *   concurrent transaction that was rolled back whole; retry.
 * - everything else — connection refused, reset or terminated, statement
 *   timeout (57014), server shutting down (57P0x), a pool that was closed —
 *   → `Unavailable`: the caller did nothing wrong, nothing was half-written
 *   (every write is one statement or one transaction) and a retry may succeed.
 *
 * Messages name the store and the operation, never data; the driver error
 * stays in `cause`.
 */
export function toPostgresStoreError(what: string, operation: string, err: unknown): ConnectError {
  if (err instanceof ConnectError) {
    return err;
  }
  const sqlState = (err as { code?: unknown } | undefined)?.code;
  if (sqlState === "23505") {
    return new ConnectError(`${what}: duplicate key during ${operation}; retry`, Code.Aborted, undefined, undefined, err);
  }
  if (typeof sqlState === "string" && sqlState.startsWith("40")) {
    return new ConnectError(`${what}: conflict with a concurrent transaction during ${operation}; retry`, Code.Aborted, undefined, undefined, err);
  }
  return storeUnavailable(what, operation, err);
}

/**
 * postgresCall runs one store operation and turns any failure into the
 * `ConnectError` of {@link toPostgresStoreError}.
 */
export async function postgresCall<T>(what: string, operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toPostgresStoreError(what, operation, err);
  }
}

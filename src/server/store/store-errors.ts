import { Code, ConnectError } from "@connectrpc/connect";

/**
 * storeUnavailable wraps a storage-driver failure (busy, I/O error, closed
 * handle, lost connection) into `ConnectError` with `Code.Unavailable`: the
 * caller did nothing wrong and may retry. The message names the store
 * (`store`, e.g. "SQLite token store") and * the operation, never data; the driver error stays in `cause`.
 */
export function storeUnavailable(store: string, operation: string, cause: unknown): ConnectError {
  if (cause instanceof ConnectError) {
    return cause;
  }
  return new ConnectError(`${store} unavailable during ${operation}`, Code.Unavailable, undefined, undefined, cause);
}

import { Code, ConnectError } from "@connectrpc/connect";
import { isSessionExpired } from "./token-source.js";

/**
 * The codes a long-running helper retries after a pause: the server or the
 * network is briefly unable (`Unavailable`, `DeadlineExceeded`,
 * `ResourceExhausted`, `Aborted`), a connection died mid-call (connect-node
 * reports a reset HTTP/2 stream or socket as `Internal`, `Unknown` or
 * `Canceled`), or a token was rejected but the session lives on
 * (`Unauthenticated`: the next attempt carries a refreshed token).
 */
const TRANSIENT_CODES: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Aborted,
  Code.Internal,
  Code.Unknown,
  Code.Canceled,
  Code.Unauthenticated,
]);

/**
 * isTransientError reports whether a failed call is worth retrying later:
 * its code is one of `Unavailable`, `DeadlineExceeded`, `ResourceExhausted`,
 * `Aborted`, `Internal`, `Unknown`, `Canceled` or `Unauthenticated`, and it
 * is not a token source's terminal session-expired error (see
 * {@link isSessionExpired}). Everything else — `InvalidArgument`,
 * `PermissionDenied`, `Unimplemented`, a dead session, … — fails the same
 * way however often it is retried. Callers check their own `AbortSignal`
 * first: a `Canceled` they caused is not transient.
 */
export function isTransientError(err: unknown): boolean {
  if (isSessionExpired(err)) {
    return false;
  }
  return TRANSIENT_CODES.has(ConnectError.from(err).code);
}

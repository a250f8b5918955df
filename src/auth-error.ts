import { Code, ConnectError } from "@connectrpc/connect";
import {
  AuthErrorDetailSchema,
  AuthErrorReason,
} from "../gen/tokenkit/v1/auth_error_pb.js";

/**
 * authError creates the `ConnectError` for an authentication or authorization
 * failure, with an `AuthErrorDetail` carrying `reason` so that clients switch
 * on the reason, never on the message.
 *
 * The code defaults to `PermissionDenied` for `INSUFFICIENT_SCOPE` and to
 * `Unauthenticated` for every other reason. The message must never contain
 * token text.
 */
export function authError(
  reason: AuthErrorReason,
  message: string,
  code: Code = reason === AuthErrorReason.INSUFFICIENT_SCOPE
    ? Code.PermissionDenied
    : Code.Unauthenticated,
): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: AuthErrorDetailSchema, value: { reason } },
  ]);
}

/**
 * authErrorReason returns the `AuthErrorReason` carried by an error, or
 * `undefined` when the error is not a `ConnectError` with an `AuthErrorDetail`.
 * It works for errors received over Connect, gRPC and gRPC-Web alike.
 */
export function authErrorReason(err: unknown): AuthErrorReason | undefined {
  if (!(err instanceof ConnectError)) {
    return undefined;
  }
  const [detail] = err.findDetails(AuthErrorDetailSchema);
  return detail?.reason;
}

export { AuthErrorReason };

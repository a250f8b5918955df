import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { AuthErrorReason } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { authErrorReason } from "../../src/auth-error.js";

/**
 * expectConnectError awaits `p`, asserts it rejects with `code` (and, when
 * given, the AuthErrorDetail `reason`), and that the message contains none of
 * `secrets` (token text must never appear in errors).
 */
export async function expectConnectError(
  p: Promise<unknown>,
  code: Code,
  reason?: AuthErrorReason,
  secrets: string[] = [],
): Promise<ConnectError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected the call to fail").toBeInstanceOf(ConnectError);
  const err = caught as ConnectError;
  expect(Code[err.code], err.message).toBe(Code[code]);
  if (reason !== undefined) {
    expect(AuthErrorReason[authErrorReason(err) ?? 0]).toBe(AuthErrorReason[reason]);
  }
  for (const s of secrets) {
    expect(err.message).not.toContain(s);
    // Also no recognizable part (header, payload, signature) of the token.
    for (const part of s.split(".").filter((x) => x.length >= 16)) {
      expect(err.message).not.toContain(part);
    }
  }
  return err;
}
